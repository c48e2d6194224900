package webhook

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretPrefix starts the text form of every secret.
const SecretPrefix = "whsec_"

// Bounds of a secret's key size, in bytes, as the specification recommends.
const (
	MinSecretSize = 24
	MaxSecretSize = 64
	// SecretSize is the size of the keys NewSecret generates.
	SecretSize = 32
)

// ErrInvalidSecret reports a secret that is not "whsec_" followed by the base64 of 24 to
// 64 bytes.
var ErrInvalidSecret = errors.New("webhook: invalid secret")

// Secret is a signing key. The zero Secret is unusable (IsZero). A Secret prints as a
// redacted placeholder; Reveal returns its text form.
type Secret struct {
	key []byte
}

// NewSecret returns a secret of SecretSize bytes from crypto/rand.
func NewSecret() (Secret, error) {
	key := make([]byte, SecretSize)
	if _, err := rand.Read(key); err != nil {
		return Secret{}, fmt.Errorf("webhook: generate secret: %w", err)
	}
	return Secret{key: key}, nil
}

// ParseSecret reads a secret in its "whsec_<base64>" form. The prefix is required and the
// key must hold MinSecretSize to MaxSecretSize bytes; otherwise the error wraps
// ErrInvalidSecret.
func ParseSecret(s string) (Secret, error) {
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return Secret{}, fmt.Errorf("%w: missing the %q prefix", ErrInvalidSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return Secret{}, fmt.Errorf("%w: %w", ErrInvalidSecret, err)
	}
	if len(key) < MinSecretSize || len(key) > MaxSecretSize {
		return Secret{}, fmt.Errorf("%w: %d bytes, want %d to %d", ErrInvalidSecret, len(key), MinSecretSize, MaxSecretSize)
	}
	return Secret{key: key}, nil
}

// Reveal returns the secret's text form, "whsec_<base64>", which ParseSecret reads back.
// It is the only way to see the key; handle the result as a credential.
func (s Secret) Reveal() string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(s.key)
}

// String returns a redacted placeholder, so that a secret never reaches a log by accident.
func (s Secret) String() string {
	return SecretPrefix + "[redacted]"
}

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// Equal reports whether s and t hold the same key, in constant time.
func (s Secret) Equal(t Secret) bool {
	return subtle.ConstantTimeCompare(s.key, t.key) == 1
}
