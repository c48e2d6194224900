package projections_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections"
)

// TestTextTheReadModelsCannotStore writes a ticket whose title and field value hold the
// NUL character straight to the log, as a writer before the API's checks could have: the
// tickets projection stores U+FFFD in its place and goes on, instead of failing on the
// event for good; the log keeps the text as written.
func TestTextTheReadModelsCannotStore(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.start(e.config(), e.standard()...)
		first := e.submit("NUL-1", "10.00", "alipay")
		e.sync(projections.TicketsName)
		id := uuid.NewString()
		var copies []eventstore.EventData
		for _, ev := range e.log() {
			if ev.Stream != ticket.Stream(first.State.ID) {
				continue
			}
			data := bytes.ReplaceAll(ev.Data, []byte(first.State.ID), []byte(id))
			data = bytes.Replace(data, []byte(`"title":"Refund NUL-1"`), []byte(`"title":"Refund \u0000 NUL-1"`), 1)
			data = bytes.Replace(data, []byte(`"reason":"broken"`), []byte(`"reason":"bro\u0000ken"`), 1)
			copies = append(copies, eventstore.EventData{Type: ev.Type, Data: data, Metadata: ev.Metadata})
		}
		if len(copies) == 0 || !bytes.Contains(copies[0].Data, []byte(`\u0000 NUL-1`)) || !bytes.Contains(copies[0].Data, []byte(`bro\u0000ken`)) {
			t.Fatalf("the copy of the submission holds no NUL: %s", copies[0].Data)
		}
		if _, err := e.store.Append(context.Background(), ticket.Stream(id), eventstore.NoStream, copies...); err != nil {
			t.Fatal(err)
		}
		e.sync(projections.TicketsName)
		if st := e.status(projections.TicketsName); !st.Healthy {
			t.Fatalf("the tickets projection failed: %s", st.Err)
		}
		got, err := projections.NewTickets(e.pool).Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		seen, err := projections.NewTickets(e.pool).AsSeenBy(context.Background(), id, projections.Viewer{ID: "auditor", Privileged: true})
		if err != nil {
			t.Fatal(err)
		}
		var reason string
		if err := json.Unmarshal(seen.Fields["reason"], &reason); err != nil || got.Title != "Refund \ufffd NUL-1" || reason != "bro\ufffdken" {
			t.Fatalf("title %q, fields %s", got.Title, mustJSON(seen.Fields))
		}
		for _, ev := range e.log() {
			if ev.Stream == ticket.Stream(id) && ev.Type == ticket.TypeSubmitted && !bytes.Contains(ev.Data, []byte(`\u0000 NUL-1`)) {
				t.Fatalf("the log lost the text as written: %s", ev.Data)
			}
		}
	})
}
