package ticket

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ticketledger/ticketledger/domain/delegation"
	"github.com/ticketledger/ticketledger/envelope"
)

var everyone = []string{"wang", "ann", "bob", "fay", "fred", "cat", "cal", "zoe", "eve", "amy"}

// randomCommand draws a command, often one that fits the state and sometimes one that does not.
func randomCommand(rng *rand.Rand, s State, now time.Time) Command {
	actor := user(pick(rng, everyone))
	if pending := s.PendingHandlers(); len(pending) > 0 && rng.IntN(3) > 0 {
		actor = user(pick(rng, pending))
		if rng.IntN(5) == 0 {
			actor = delegate("amy", actor.ID, delegation.Grant{ID: "g", Delegate: "amy", From: t0, Until: t0.Add(time.Duration(rng.IntN(48)) * time.Hour)})
		}
	}
	switch rng.IntN(15) {
	case 0:
		return submitCmd(1 + rng.IntN(3000))
	case 1, 2, 3:
		return Approve{By: actor, At: now}
	case 4:
		return Reject{By: actor, At: now}
	case 5:
		return Return{By: actor, To: pick(rng, []string{"", ToSubmitter, "staff", "finance"}), At: now}
	case 6:
		return Resubmit{Definition: testDef{}, Changes: json.RawMessage(fmt.Sprintf(`{"amount":%d}`, 1+rng.IntN(3000))), By: pick(rng, []Actor{shop, user("wang"), actor}), At: now}
	case 7:
		return Withdraw{By: pick(rng, []Actor{user("wang"), actor}), At: now}
	case 8:
		return Transfer{By: actor, To: pick(rng, everyone), At: now}
	case 9:
		return AddSigner{By: actor, Signer: pick(rng, everyone), Where: pick(rng, []string{Before, After}), At: now}
	case 10:
		return Urge{By: pick(rng, []Actor{user("wang"), actor}), Interval: time.Hour, At: now}
	case 11:
		return Remind{By: Actor{ID: "s", Scheduler: true}, Kind: pick(rng, []string{DueSoon, Overdue}), At: now}
	case 13:
		return Handover{From: pick(rng, everyone), To: pick(rng, everyone), By: Actor{ID: "root", Admin: true}, At: now}
	case 12:
		return ReportExecution{By: pick(rng, []Actor{shop, actor}), Status: pick(rng, []string{ExecutionSucceeded, ExecutionFailed}), At: now}
	default:
		return Comment{By: actor, Text: "note", At: now}
	}
}

// pick draws one element of list.
func pick[T any](rng *rand.Rand, list []T) T { return list[rng.IntN(len(list))] }

// decisionTypes are the events that decide something about a ticket.
var decisionTypes = []string{TypeNodeActivated, TypeTaskApproved, TypeTaskRejected, TypeNodeCompleted, TypeReturned,
	TypeResubmitted, TypeWithdrawn, TypeTaskTransferred, TypeHandlerReplaced, TypeSignerAdded, TypeApproved, TypeRejected, TypeUrged, TypeCCAdded}

// TestRandomSequences drives random commands through the decider and checks the invariants
// that hold whatever happens: at most one final outcome and no decision after it; an
// all-of node completes approved only when every handler approved; the stream's hash chain
// verifies, and changing any byte of it breaks it.
func TestRandomSequences(t *testing.T) {
	runs := 3000
	if testing.Short() {
		runs = 300
	}
	outcomes := map[Status]int{}
	for r := 0; r < runs; r++ {
		rng := rand.New(rand.NewPCG(uint64(r), 7))
		s := Initial()
		now := t0
		var stream []Event
		s, stream = apply(t, s, stream, submitCmd(1+rng.IntN(3000)))
		for step := 0; step < 40; step++ {
			now = now.Add(time.Duration(rng.IntN(180)) * time.Minute)
			s, stream = apply(t, s, stream, randomCommand(rng, s, now))
		}
		checkInvariants(t, r, stream)
		checkChain(t, rng, stream)
		outcomes[s.Status]++
	}
	t.Logf("outcomes of %d random runs: %v", runs, outcomes)
	for _, st := range []Status{StatusApproved, StatusRejected, StatusWithdrawn, StatusInProgress} {
		if outcomes[st] == 0 {
			t.Errorf("no random run ended %q: the generator misses part of the state space", st)
		}
	}
}

func apply(t *testing.T, s State, stream []Event, c Command) (State, []Event) {
	evs, err := Decide(s, c)
	if err != nil {
		if _, ok := err.(interface{ Error() string }); !ok {
			t.Fatalf("odd error %v", err)
		}
		return s, stream
	}
	for _, e := range evs {
		s = Evolve(s, e)
	}
	return s, append(stream, evs...)
}

func checkInvariants(t *testing.T, run int, stream []Event) {
	t.Helper()
	s := Initial()
	finals := 0
	for i, e := range stream {
		typ, _ := TypeOf(e)
		if finals > 0 && slices.Contains(decisionTypes, typ) {
			t.Fatalf("run %d: %s at %d after the final outcome: %v", run, typ, i, types(stream))
		}
		if nc, ok := e.(*NodeCompleted); ok && nc.Outcome == "approved" {
			n, _ := s.CurrentNode()
			if n.Mode == AllOf || n.Mode == Sequential {
				for _, task := range s.Tasks {
					if task.Status != TaskApproved && task.Status != TaskTransferred {
						t.Fatalf("run %d: %s node %s completed with task %+v not approved", run, n.Mode, n.Key, task)
					}
				}
			}
		}
		s = Evolve(s, e)
		switch typ {
		case TypeApproved, TypeRejected, TypeWithdrawn:
			finals++
		}
	}
	if finals > 1 {
		t.Fatalf("run %d: %d final outcomes", run, finals)
	}
	if (finals == 1) != s.Status.Final() {
		t.Fatalf("run %d: %d final events but status %s", run, finals, s.Status)
	}
}

// checkChain seals the stream as the command handlers do and checks that it verifies and
// that flipping one random byte breaks it.
func checkChain(t *testing.T, rng *rand.Rand, stream []Event) {
	t.Helper()
	prev := envelope.Genesis
	links := make([]envelope.Link, len(stream))
	for i, e := range stream {
		typ, data, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		md, h, err := envelope.Seal(envelope.Metadata{Schema: SchemaVersion, Actor: "x", CommandID: uuid.New()}, prev, typ, data)
		if err != nil {
			t.Fatal(err)
		}
		prev = h
		links[i] = envelope.Link{Version: uint64(i + 1), Type: typ, Data: data, Metadata: md}
	}
	head, err := envelope.Verify(links)
	if err != nil || head != prev {
		t.Fatalf("chain of %d events: head %s, want %s, err %v", len(links), head, prev, err)
	}
	l := &links[rng.IntN(len(links))]
	target := l.Data
	if rng.IntN(2) == 0 {
		target = l.Metadata
	}
	target[rng.IntN(len(target))] ^= byte(1 + rng.IntN(255))
	if _, err := envelope.Verify(links); err == nil {
		t.Fatalf("a changed byte in event %d still verifies", l.Version)
	}
}
