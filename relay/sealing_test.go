package relay_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/relay"
	"github.com/ticketledger/ticketledger/relay/egress"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, relay.SecretKeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestSecretsEncryptedAtRest: with a key, no signing secret is stored in clear, the
// webhooks are signed as before, secrets stored in clear earlier are encrypted when the
// store opens, and a store without the key says so instead of signing with garbage.
func TestSecretsEncryptedAtRest(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	plainRcv := newReceiver(t)
	early := h.register(plainRcv, relay.NewEndpoint{}) // stored in clear: the harness's store has no key
	stored := func() []string {
		t.Helper()
		rows, err := h.pool.Query(ctx, `SELECT secret FROM relay_endpoint_secrets ORDER BY endpoint_id, serial`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	if got := stored(); len(got) != 1 || !strings.HasPrefix(got[0], "whsec_") {
		t.Fatalf("without a key: %v", got)
	}

	key := newKey(t)
	sealed, err := relay.NewStore(ctx, h.pool, relay.StoreConfig{Egress: egress.Policy{Allow: egress.Loopback}, Logger: logger, SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	h.store = sealed
	rcv := newReceiver(t)
	e := h.register(rcv, relay.NewEndpoint{})
	newer, err := h.store.RotateSecret(ctx, e.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := h.store.EndpointSecrets(ctx, e.ID)
	if err != nil || len(secrets) != 2 || !secrets[0].Secret.Equal(newer) {
		t.Fatalf("secrets read back: %v, %v", secrets, err)
	}
	for _, s := range stored() {
		if strings.Contains(s, "whsec_") || !strings.HasPrefix(s, "aes256gcm:") {
			t.Fatalf("a secret stored in clear with a key: %q", s)
		}
		for _, sec := range append(secrets, mustSecrets(t, h.store, early.ID)...) {
			if strings.Contains(s, strings.TrimPrefix(sec.Secret.Reveal(), "whsec_")) {
				t.Fatalf("a stored secret holds its key material: %q", s)
			}
		}
	}

	// Webhooks to both endpoints verify with their secrets.
	h.start(h.sqlTransport(), fastDispatch())
	h.outcomes(1, 1)
	waitFor(t, 10*time.Second, "the outcomes", func() bool { return len(rcv.all()) == 1 && len(plainRcv.all()) == 1 })
	for _, got := range append(rcv.all(), plainRcv.all()...) {
		if got.verified != nil {
			t.Fatalf("a webhook does not verify with its endpoint's secret: %v", got.verified)
		}
	}

	// Another key, or none, cannot open them.
	for _, k := range [][]byte{nil, newKey(t)} {
		other, err := relay.NewStore(ctx, h.pool, relay.StoreConfig{Logger: logger, SecretKey: k})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.EndpointSecrets(ctx, e.ID); !errors.Is(err, relay.ErrSecretKey) {
			t.Fatalf("secrets read with the key %x: %v, want ErrSecretKey", k, err)
		}
	}
	if _, err := relay.NewStore(ctx, h.pool, relay.StoreConfig{Logger: logger, SecretKey: key[:16]}); err == nil {
		t.Fatal("a 16-byte key accepted")
	}
	if _, err := relay.ParseSecretKey("not base64"); err == nil {
		t.Fatal("a key that is not base64 accepted")
	}
}

func mustSecrets(t *testing.T, s *relay.Store, id uuid.UUID) []relay.EndpointSecret {
	t.Helper()
	out, err := s.EndpointSecrets(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSecretKeyRotation: a store given a new key and the old one as previous opens the
// secrets sealed under the old key and seals them again under the new one; afterwards the
// new key alone opens them and the old key alone no longer does.
func TestSecretKeyRotation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	policy := egress.Policy{Allow: egress.Loopback}
	oldKey, newKeyB := newKey(t), newKey(t)
	old, err := relay.NewStore(ctx, h.pool, relay.StoreConfig{Egress: policy, Logger: logger, SecretKey: oldKey})
	if err != nil {
		t.Fatal(err)
	}
	h.store = old
	e := h.register(newReceiver(t), relay.NewEndpoint{})
	if _, err := old.RotateSecret(ctx, e.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	want := mustSecrets(t, old, e.ID)
	var before []string
	rows, err := h.pool.Query(ctx, `SELECT secret FROM relay_endpoint_secrets ORDER BY serial`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		before = append(before, s)
	}
	if rows.Err() != nil || len(before) != 2 {
		t.Fatalf("stored secrets: %v, %v", before, rows.Err())
	}

	if _, err := relay.NewStore(ctx, h.pool, relay.StoreConfig{Logger: logger, PreviousSecretKeys: [][]byte{oldKey}}); err == nil {
		t.Fatal("previous keys without a key accepted")
	}
	rotated, err := relay.NewStore(ctx, h.pool, relay.StoreConfig{Egress: policy, Logger: logger, SecretKey: newKeyB,
		PreviousSecretKeys: [][]byte{newKey(t), oldKey}})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range mustSecrets(t, rotated, e.ID) {
		if !s.Secret.Equal(want[i].Secret) {
			t.Fatalf("secret %d changed in the rotation of the key", i)
		}
	}
	var resealed int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM relay_endpoint_secrets WHERE secret <> ALL($1) AND secret LIKE 'aes256gcm:%'`,
		before).Scan(&resealed); err != nil || resealed != 2 {
		t.Fatalf("%d secrets sealed again (%v), want 2", resealed, err)
	}
	alone, err := relay.NewStore(ctx, h.pool, relay.StoreConfig{Logger: logger, SecretKey: newKeyB})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustSecrets(t, alone, e.ID); len(got) != 2 || !got[0].Secret.Equal(want[0].Secret) {
		t.Fatalf("with the new key alone: %v", got)
	}
	oldAlone, err := relay.NewStore(ctx, h.pool, relay.StoreConfig{Logger: logger, SecretKey: oldKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oldAlone.EndpointSecrets(ctx, e.ID); !errors.Is(err, relay.ErrSecretKey) {
		t.Fatalf("the old key alone after the rotation: %v, want ErrSecretKey", err)
	}
}
