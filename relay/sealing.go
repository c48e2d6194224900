package relay

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SecretKeySize is the length of StoreConfig.SecretKey: an AES-256 key.
const SecretKeySize = 32

// sealedPrefix marks a signing secret stored encrypted; other stored secrets are the
// secret itself, as written without a key.
const sealedPrefix = "aes256gcm:"

// ErrSecretKey reports a stored signing secret the store cannot open: encrypted while the
// store has no key, or under another key.
var ErrSecretKey = errors.New("relay: a webhook secret is encrypted with a key this store does not have")

// ParseSecretKey reads a SecretKey written in standard base64.
func ParseSecretKey(text string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(key) != SecretKeySize {
		return nil, fmt.Errorf("relay: the secret key must be %d bytes in base64 (e.g. from `openssl rand -base64 32`)", SecretKeySize)
	}
	return key, nil
}

// sealer encrypts the signing secrets at rest with AES-256-GCM, each bound to its row
// (endpoint and serial) so that a sealed secret copied to another row does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if key == nil {
		return nil, nil
	}
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("relay: the secret key has %d bytes, want %d", len(key), SecretKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func rowData(endpoint uuid.UUID, serial int) []byte {
	return []byte(endpoint.String() + "/" + strconv.Itoa(serial))
}

// seal returns what is stored for secret in the row (endpoint, serial): the secret
// itself without a key.
func (s *sealer) seal(endpoint uuid.UUID, serial int, secret string) (string, error) {
	if s == nil {
		return secret, nil
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("relay: seal a webhook secret: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(secret), rowData(endpoint, serial))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// open returns the secret stored in the row (endpoint, serial).
func (s *sealer) open(endpoint uuid.UUID, serial int, stored string) (string, error) {
	b64, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return stored, nil
	}
	if s == nil {
		return "", ErrSecretKey
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", fmt.Errorf("relay: a sealed webhook secret of endpoint %s is malformed", endpoint)
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], rowData(endpoint, serial))
	if err != nil {
		return "", ErrSecretKey
	}
	return string(plain), nil
}

// sealStored encrypts the signing secrets stored in clear, as written before the store
// had a key, and returns how many it sealed. It does nothing without a key.
func (s *Store) sealStored(ctx context.Context) (int, error) {
	if s.sealer == nil {
		return 0, nil
	}
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT endpoint_id, serial, secret FROM relay_endpoint_secrets
			WHERE secret NOT LIKE '`+sealedPrefix+`%' FOR UPDATE`)
		if err != nil {
			return err
		}
		type row struct {
			endpoint uuid.UUID
			serial   int
			secret   string
		}
		plain, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.endpoint, &x.serial, &x.secret)
			return x, err
		})
		if err != nil {
			return err
		}
		for _, x := range plain {
			sealed, err := s.sealer.seal(x.endpoint, x.serial, x.secret)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE relay_endpoint_secrets SET secret = $3 WHERE endpoint_id = $1 AND serial = $2`,
				x.endpoint, x.serial, sealed); err != nil {
				return err
			}
		}
		n = len(plain)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("relay: seal the webhook secrets stored in clear: %w", err)
	}
	return n, nil
}
