package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/ticketledger/ticketledger/relay/webhook"
)

func TestSecretRoundTrip(t *testing.T) {
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	text := s.Reveal()
	if !strings.HasPrefix(text, "whsec_") {
		t.Fatalf("secret %q lacks the prefix", text)
	}
	back, err := webhook.ParseSecret(text)
	if err != nil || !back.Equal(s) {
		t.Fatalf("ParseSecret(%q) = %v, %v", text, back, err)
	}
	if strings.Contains(s.String(), text[6:]) || s.IsZero() || !(webhook.Secret{}).IsZero() {
		t.Fatalf("String leaks the key or IsZero is wrong: %s", s)
	}
	other, _ := webhook.NewSecret()
	if s.Equal(other) {
		t.Fatal("two generated secrets are equal")
	}
}

func TestParseSecretRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"whsec_not base64!",
		"whsec_c2hvcnQ=",
		"whsec_" + strings.Repeat("QUFB", 30),
	} {
		if _, err := webhook.ParseSecret(in); !errors.Is(err, webhook.ErrInvalidSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrInvalidSecret", in, err)
		}
	}
}

// TestKnownVector checks the signature of the specification's reference example.
func TestKnownVector(t *testing.T) {
	s, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"test": 2432232314}`)
	got := webhook.Sign(s, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

func TestIndependentVerifier(t *testing.T) {
	s, _ := webhook.NewSecret()
	old, _ := webhook.NewSecret()
	body := []byte(`{"type":"ticket.approved","data":{"ticket_id":"x"}}`)
	h := http.Header{}
	now := time.Now()
	webhook.SetHeaders(h, []webhook.Secret{s, old, {}}, "msg_1", now, body)
	if n := len(strings.Fields(h.Get(webhook.HeaderSignature))); n != 2 {
		t.Fatalf("%d signatures, want 2", n)
	}
	for _, key := range []webhook.Secret{s, old} {
		wh, err := standardwebhooks.NewWebhook(key.Reveal())
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Fatalf("the reference library rejects the request: %v", err)
		}
		if err := webhook.Verify([]webhook.Secret{key}, h, body, now, 0); err != nil {
			t.Fatal(err)
		}
	}
	wh, _ := standardwebhooks.NewWebhook(s.Reveal())
	sig, err := wh.Sign("msg_2", now, body)
	if err != nil {
		t.Fatal(err)
	}
	h2 := http.Header{}
	h2.Set(webhook.HeaderID, "msg_2")
	h2.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h2.Set(webhook.HeaderSignature, sig)
	if err := webhook.Verify([]webhook.Secret{s}, h2, body, now, 0); err != nil {
		t.Fatalf("Verify rejects the reference library's signature: %v", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	s, _ := webhook.NewSecret()
	other, _ := webhook.NewSecret()
	body := []byte(`{}`)
	now := time.Unix(1_800_000_000, 0)
	signed := func() http.Header {
		h := http.Header{}
		webhook.SetHeaders(h, []webhook.Secret{s}, "msg_1", now, body)
		return h
	}
	cases := []struct {
		name   string
		mutate func(http.Header) []byte
		keys   []webhook.Secret
		at     time.Time
		want   error
	}{
		{"missing id", func(h http.Header) []byte { h.Del(webhook.HeaderID); return body }, []webhook.Secret{s}, now, webhook.ErrMissingHeaders},
		{"bad timestamp", func(h http.Header) []byte { h.Set(webhook.HeaderTimestamp, "soon"); return body }, []webhook.Secret{s}, now, webhook.ErrInvalidTimestamp},
		{"too old", func(http.Header) []byte { return body }, []webhook.Secret{s}, now.Add(6 * time.Minute), webhook.ErrTimestampOutOfRange},
		{"too new", func(http.Header) []byte { return body }, []webhook.Secret{s}, now.Add(-6 * time.Minute), webhook.ErrTimestampOutOfRange},
		{"other secret", func(http.Header) []byte { return body }, []webhook.Secret{other}, now, webhook.ErrNoMatchingSignature},
		{"altered body", func(http.Header) []byte { return []byte(`{"x":1}`) }, []webhook.Secret{s}, now, webhook.ErrNoMatchingSignature},
		{"altered id", func(h http.Header) []byte { h.Set(webhook.HeaderID, "msg_2"); return body }, []webhook.Secret{s}, now, webhook.ErrNoMatchingSignature},
		{"unknown version", func(h http.Header) []byte {
			h.Set(webhook.HeaderSignature, strings.Replace(h.Get(webhook.HeaderSignature), "v1,", "v2,", 1))
			return body
		}, []webhook.Secret{s}, now, webhook.ErrNoMatchingSignature},
		{"garbage signature", func(h http.Header) []byte { h.Set(webhook.HeaderSignature, "v1,!!! v1"); return body }, []webhook.Secret{s}, now, webhook.ErrNoMatchingSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := signed()
			b := c.mutate(h)
			if err := webhook.Verify(c.keys, h, b, c.at, 0); !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
	if err := webhook.Verify([]webhook.Secret{s}, signed(), body, now.Add(time.Hour), 2*time.Hour); err != nil {
		t.Fatalf("a wider tolerance: %v", err)
	}
}
