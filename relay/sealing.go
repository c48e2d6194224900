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
// (endpoint and serial) so that a sealed secret copied to another row does not open. It
// seals with its current key and opens with it or with one of the previous keys it was
// given, so that the key can be replaced.
type sealer struct {
	keys []cipher.AEAD // the current key, then the previous ones
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("relay: the secret key has %d bytes, want %d", len(key), SecretKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func newSealer(key []byte, previous [][]byte) (*sealer, error) {
	if key == nil {
		if len(previous) > 0 {
			return nil, errors.New("relay: previous secret keys are given without a secret key to reseal under")
		}
		return nil, nil
	}
	s := &sealer{}
	for i, k := range append([][]byte{key}, previous...) {
		aead, err := newAEAD(k)
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("%w (a previous key)", err)
			}
			return nil, err
		}
		s.keys = append(s.keys, aead)
	}
	return s, nil
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
	aead := s.keys[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("relay: seal a webhook secret: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(secret), rowData(endpoint, serial))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// open returns the secret stored in the row (endpoint, serial).
func (s *sealer) open(endpoint uuid.UUID, serial int, stored string) (string, error) {
	plain, _, err := s.openAny(endpoint, serial, stored)
	return plain, err
}

// openAny returns the secret stored in the row (endpoint, serial), and whether it is
// stored in clear or under a previous key rather than the current one.
func (s *sealer) openAny(endpoint uuid.UUID, serial int, stored string) (plain string, stale bool, err error) {
	b64, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return stored, true, nil
	}
	if s == nil {
		return "", false, ErrSecretKey
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	n := s.keys[0].NonceSize() // GCM's standard nonce, the same for every key
	if err != nil || len(raw) < n {
		return "", false, fmt.Errorf("relay: a sealed webhook secret of endpoint %s is malformed", endpoint)
	}
	for i, aead := range s.keys {
		if p, err := aead.Open(nil, raw[:n], raw[n:], rowData(endpoint, serial)); err == nil {
			return string(p), i > 0, nil
		}
	}
	return "", false, ErrSecretKey
}

// sealStored encrypts under the current key the signing secrets stored in clear, as
// written before the store had a key, and those sealed under a previous key, and returns
// how many it sealed. It does nothing without a key; secrets no key opens stay as they
// are (they fail with ErrSecretKey when used).
func (s *Store) sealStored(ctx context.Context) (int, error) {
	if s.sealer == nil {
		return 0, nil
	}
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Without previous keys only the secrets stored in clear can need sealing.
		query := `SELECT endpoint_id, serial, secret FROM relay_endpoint_secrets WHERE secret NOT LIKE '` + sealedPrefix + `%' FOR UPDATE`
		if len(s.sealer.keys) > 1 {
			query = `SELECT endpoint_id, serial, secret FROM relay_endpoint_secrets FOR UPDATE`
		}
		rows, err := tx.Query(ctx, query)
		if err != nil {
			return err
		}
		type row struct {
			endpoint uuid.UUID
			serial   int
			secret   string
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.endpoint, &x.serial, &x.secret)
			return x, err
		})
		if err != nil {
			return err
		}
		for _, x := range all {
			plain, stale, err := s.sealer.openAny(x.endpoint, x.serial, x.secret)
			if err != nil || !stale {
				continue
			}
			sealed, err := s.sealer.seal(x.endpoint, x.serial, plain)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE relay_endpoint_secrets SET secret = $3 WHERE endpoint_id = $1 AND serial = $2`,
				x.endpoint, x.serial, sealed); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("relay: seal the webhook secrets under the current key: %w", err)
	}
	return n, nil
}
