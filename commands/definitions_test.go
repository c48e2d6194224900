package commands_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/commands"
	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/process"
	"github.com/ticketledger/ticketledger/eventstore"
)

// TestDefinitionsFollowingTheIndex: definitions that follow the principal index read a
// process stream once per version, and see a new version or a retirement once the index
// has it.
func TestDefinitionsFollowingTheIndex(t *testing.T) {
	eachStore(t, func(t *testing.T, store eventstore.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		index := runIndex(t, ctx, store)
		reads := &readCounter{Store: store}
		defs := commands.NewProcessDefinitions(reads, nil).Following(index.ProcessStreamVersion)
		svc := commands.New(store, defs)

		key := "follow-" + uuid.NewString()[:8]
		publish := func(title string) commands.Result[process.State] {
			t.Helper()
			src := fmt.Sprintf("key: %s\nname: %s\nsystem: shop\nfields:\n  amount: {type: money, currency: CNY, scale: 2, required: true}\nnodes:\n  - key: lead\n    name: Lead\n    handlers: [{role: leads}]\n", key, title)
			res, err := svc.PublishProcess(ctx, commands.PublishProcess{Request: commands.Request{CommandID: uuid.New(), Caller: admin}, Key: key, Source: []byte(src)})
			if err != nil {
				t.Fatalf("publish %s: %v", title, err)
			}
			return res
		}
		latest := func() int {
			t.Helper()
			def, err := defs.Latest(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			return def.Version()
		}

		first := publish("first")
		if err := index.WaitFor(ctx, first.Position); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if v := latest(); v != 1 {
				t.Fatalf("latest version %d, want 1", v)
			}
		}
		if n := reads.count(); n != 1 {
			t.Fatalf("five lookups of one version read the process stream %d times, want 1", n)
		}

		second := publish("second")
		if err := index.WaitFor(ctx, second.Position); err != nil {
			t.Fatal(err)
		}
		if v := latest(); v != 2 {
			t.Fatalf("after the second publication and the index: latest version %d, want 2", v)
		}
		if v, err := defs.Version(ctx, key, 1); err != nil || v.Version() != 1 {
			t.Fatalf("version 1: %v", err)
		}
		if n := reads.count(); n != 2 {
			t.Fatalf("two versions read the process stream %d times, want 2", n)
		}

		retired, err := svc.RetireProcess(ctx, commands.RetireProcess{Request: commands.Request{CommandID: uuid.New(), Caller: admin}, Key: key, Reason: "done"})
		if err != nil {
			t.Fatal(err)
		}
		if err := index.WaitFor(ctx, retired.Position); err != nil {
			t.Fatal(err)
		}
		if _, err := defs.Latest(ctx, key); !domain.Is(err, domain.Conflict) {
			t.Fatalf("latest of a retired process: %v", err)
		}
		if _, err := defs.Latest(ctx, "never-"+key); !domain.Is(err, domain.NotFound) {
			t.Fatalf("latest of a process never published: %v", err)
		}
	})
}
