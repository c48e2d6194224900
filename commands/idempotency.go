package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/eventstore"
)

// An Idempotency-Key makes a command's id deterministic, so that a retry issues the same
// command and the store recognises its events. The same key sent again for another
// request (another ticket, another body) would issue that request with the same command
// id: a second command under one key, its events carrying the ids of the first's. So the
// first request with a key claims it, recording a fingerprint of the request in a stream
// of the key's own, and a later request with the key must match it.

// KeyClaimStream returns the stream in which the key of commandID is claimed.
func KeyClaimStream(commandID uuid.UUID) string { return "idempotency-" + commandID.String() }

// TypeKeyClaimed is the type of the event that claims an Idempotency-Key.
const TypeKeyClaimed = "idempotency.key-claimed"

// keyClaimNamespace is the UUIDv5 namespace of the ids of key claims.
var keyClaimNamespace = uuid.MustParse("0c7f1d8a-3e52-4a6b-9f14-7d2e5b8c6a31")

// keyClaim is the data of a TypeKeyClaimed event.
type keyClaim struct {
	Fingerprint string `json:"fingerprint"`
}

// ClaimIdempotencyKey claims the Idempotency-Key behind commandID for the request whose
// fingerprint is given (a digest of what the request asks). A key claimed before for the
// same fingerprint passes (a retry); one claimed for another fails with an Invalid error,
// code idempotency-key-reused, and nothing is written.
func (s *Service) ClaimIdempotencyKey(ctx context.Context, commandID uuid.UUID, fingerprint string) error {
	data, err := json.Marshal(keyClaim{Fingerprint: fingerprint})
	if err != nil {
		return err
	}
	stream := KeyClaimStream(commandID)
	began := time.Now()
	_, err = s.store.Append(ctx, stream, eventstore.NoStream,
		eventstore.EventData{ID: uuid.NewSHA1(keyClaimNamespace, []byte(fingerprint+"\x00"+commandID.String())), Type: TypeKeyClaimed, Data: data})
	timeAppend(ctx, began)
	if err == nil || !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return err
	}
	evs, err := s.store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Count: 1})
	if err != nil {
		return fmt.Errorf("commands: read the claim of an Idempotency-Key: %w", err)
	}
	var first keyClaim
	if len(evs) > 0 {
		if err := json.Unmarshal(evs[0].Data, &first); err != nil {
			return fmt.Errorf("commands: decode the claim of an Idempotency-Key: %w", err)
		}
	}
	if first.Fingerprint != fingerprint {
		return &domain.Error{Kind: domain.Invalid, Code: "idempotency-key-reused", Field: "header.Idempotency-Key",
			Message: "this Idempotency-Key was sent before with another request; a new request needs a new key"}
	}
	return nil
}
