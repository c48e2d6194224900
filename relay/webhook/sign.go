package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a signed request.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a request's timestamp may lie from the receiver's clock,
// either way, for Verify to accept it.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify, tested with errors.Is.
var (
	// ErrMissingHeaders: one of the three headers is absent or empty.
	ErrMissingHeaders = errors.New("webhook: missing signature headers")
	// ErrInvalidTimestamp: webhook-timestamp is not a Unix time in seconds.
	ErrInvalidTimestamp = errors.New("webhook: invalid timestamp")
	// ErrTimestampOutOfRange: the timestamp lies further than the tolerance from now.
	ErrTimestampOutOfRange = errors.New("webhook: timestamp outside the tolerance")
	// ErrNoMatchingSignature: no v1 signature matches any of the secrets.
	ErrNoMatchingSignature = errors.New("webhook: no matching signature")
)

// Sign returns the v1 signature of a message under secret: "v1," followed by the base64
// of HMAC-SHA256("<id>.<unix seconds>.<body>"). Only the whole seconds of ts count.
func Sign(secret Secret, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, id, ts.Unix(), body))
}

// SignatureHeader returns the webhook-signature value for a message signed with every
// secret in order, separated by spaces. Secrets that are zero are skipped.
func SignatureHeader(secrets []Secret, id string, ts time.Time, body []byte) string {
	var sb strings.Builder
	for _, s := range secrets {
		if s.IsZero() {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(Sign(s, id, ts, body))
	}
	return sb.String()
}

// SetHeaders sets the three Standard Webhooks headers of h for a message signed with
// secrets at ts.
func SetHeaders(h http.Header, secrets []Secret, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, SignatureHeader(secrets, id, ts, body))
}

func mac(secret Secret, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret.key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a received request's headers and body against the receiver's secrets:
// the timestamp must lie within tolerance of now (DefaultTolerance when tolerance is 0)
// and one v1 signature must match one secret. It returns nil or an error wrapping
// ErrMissingHeaders, ErrInvalidTimestamp, ErrTimestampOutOfRange or
// ErrNoMatchingSignature. Comparisons run in constant time.
func Verify(secrets []Secret, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	unix, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrInvalidTimestamp, tsText)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s from now", ErrTimestampOutOfRange, d.Round(time.Second))
	}
	for _, s := range secrets {
		if s.IsZero() {
			continue
		}
		want := mac(s, id, unix, body)
		for _, sig := range strings.Fields(sigs) {
			version, enc, ok := strings.Cut(sig, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				continue
			}
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrNoMatchingSignature
}
