package tickettest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
)

func TestProcess(t *testing.T) {
	p := Process{ProcessKey: "p", Nodes: []ticket.Node{{Key: "n", Mode: ticket.OneOf, Handlers: []string{"ann"}}}}
	if p.Version() != 1 || p.UrgeInterval() != time.Hour || p.Key() != "p" {
		t.Fatalf("defaults: %d %s %s", p.Version(), p.UrgeInterval(), p.Key())
	}
	if f, err := p.ValidateFields(json.RawMessage(`{"a":1}`)); err != nil || string(f["a"]) != "1" {
		t.Fatalf("fields: %v %v", f, err)
	}
	for _, bad := range []string{`[1]`, `null`, `{`} {
		if _, err := p.ValidateFields(json.RawMessage(bad)); !domain.Is(err, domain.Invalid) {
			t.Fatalf("%s accepted: %v", bad, err)
		}
	}
	if r, _ := p.Route(nil, ticket.Submitter{}); len(r) != 1 || r[0].Key != "n" {
		t.Fatalf("route %v", r)
	}
	defs := Definitions{p}
	if d, err := defs.Version(context.Background(), "p", 7); err != nil || d.Key() != "p" {
		t.Fatalf("version: %v", err)
	}
	if _, err := defs.Latest(context.Background(), "q"); !domain.Is(err, domain.NotFound) {
		t.Fatalf("unknown process: %v", err)
	}
}
