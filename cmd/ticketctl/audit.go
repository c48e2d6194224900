package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ticketledger/ticketledger/domain"
	"github.com/ticketledger/ticketledger/domain/ticket"
	"github.com/ticketledger/ticketledger/envelope"
	"github.com/ticketledger/ticketledger/eventstore"
	"github.com/ticketledger/ticketledger/projections/audit"
)

func auditVerify(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("audit verify")
	all := fs.Bool("all", false, "verify every ticket stream of the log")
	pos, err := o.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if (len(pos) == 1) == *all {
		return usagef("audit verify: give a TICKET_ID or --all, not both nor neither")
	}
	s, err := o.openStores(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	if *all {
		return verifyAll(ctx, o, s)
	}
	return verifyOne(ctx, o, s, pos[0])
}

// history reads a ticket's history, naming a ticket that has no stream plainly.
func history(ctx context.Context, s *stores, id string) (audit.History, error) {
	h, err := audit.New(s.store).History(ctx, id)
	var de *domain.Error
	if errors.As(err, &de) && de.Kind == domain.NotFound {
		return h, fmt.Errorf("no ticket %s in the event log", id)
	}
	if err != nil {
		return h, fmt.Errorf("read the history of ticket %s: %w", id, err)
	}
	return h, nil
}

func verifyOne(ctx context.Context, o *options, s *stores, id string) error {
	h, err := history(ctx, s, id)
	if err != nil {
		return err
	}
	if h.Intact {
		fmt.Fprintf(o.stdout, "ticket %s: intact, %s, chain head %s\n", id, plural(len(h.Records), "event", "events"), h.Head)
		return nil
	}
	fmt.Fprintf(o.stdout, "ticket %s: BROKEN at version %d of %d: %s\n", id, h.Break.Version, len(h.Records), h.Break.Reason)
	return fmt.Errorf("the hash chain of ticket %s is broken at version %d", id, h.Break.Version)
}

// chain is the verification state of one ticket stream.
type chain struct {
	v      envelope.Verifier
	events int
	broken *envelope.BreakError
}

// verifyAll reads every ticket event of the log in log order, up to the head of the log
// when it starts, verifying each stream's chain as it goes, then prints a summary; it
// fails when any chain is broken. The events appended meanwhile are left for the next
// run: on a busy log, following the head would verify until the writers pause.
func verifyAll(ctx context.Context, o *options, s *stores) error {
	started := time.Now()
	head, err := s.store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, Count: 1})
	if err != nil {
		return fmt.Errorf("read the head of the log: %w", err)
	}
	var headPos eventstore.Position
	if len(head) > 0 {
		headPos = head[0].Position
	}
	// measure places a position in the log: pgstore's sequence number counts events;
	// EventStoreDB's commit position counts bytes, which still tells the share done.
	measure := func(p eventstore.Position) int64 {
		major, minor := p.Parts()
		if s.pg {
			return int64(minor)
		}
		return int64(major)
	}
	total := measure(headPos)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := s.store.Subscribe(sctx, eventstore.Start, eventstore.Filter{StreamPrefixes: []string{ticket.Stream("")}})
	if err != nil {
		return fmt.Errorf("read the log: %w", err)
	}
	defer sub.Close()

	chains := map[string]*chain{}
	var events int64
	bar := newProgressBar(o.stderr, "verify")
	report := func(pos eventstore.Position, force bool) {
		m := measure(pos)
		elapsed := time.Since(started).Seconds()
		p := progress{done: events, total: -1, fraction: -1, unit: "ticket events",
			note: fmt.Sprintf("%s, %d broken", plural(len(chains), "ticket", "tickets"), countBroken(chains))}
		if total > 0 {
			p.fraction = min(1, float64(m)/float64(total))
			if s.pg {
				p.done, p.total, p.unit = m, total, "log events"
			}
		}
		if elapsed > 0 {
			p.rate = float64(p.done) / elapsed
			if p.fraction > 0 && p.fraction < 1 {
				p.remaining = time.Duration(elapsed * (1 - p.fraction) / p.fraction * float64(time.Second))
			}
		}
		bar.update(p, force)
	}
	report(eventstore.Start, true)
	caughtUp := false
	for msg := range sub.Messages() {
		if !headPos.IsZero() && msg.Position.After(headPos) {
			caughtUp = true // appended after the start
			break
		}
		switch msg.Kind {
		case eventstore.EventMessage:
			e := msg.Event
			id := strings.TrimPrefix(e.Stream, ticket.Stream(""))
			c := chains[id]
			if c == nil {
				c = &chain{}
				chains[id] = c
			}
			c.events++
			events++
			if c.broken == nil {
				_, err := c.v.Next(envelope.Link{Version: e.Version, Type: e.Type, Data: e.Data, Metadata: e.Metadata})
				if err != nil && !errors.As(err, &c.broken) {
					return fmt.Errorf("ticket %s version %d: %w", id, e.Version, err)
				}
			}
		case eventstore.CaughtUpMessage:
			caughtUp = true
		}
		if !headPos.IsZero() && msg.Position.Compare(headPos) == 0 {
			caughtUp = true
		}
		report(msg.Position, caughtUp)
		if caughtUp {
			break
		}
	}
	bar.finish()
	if !caughtUp {
		if err := sub.Err(); err != nil {
			return fmt.Errorf("read the log: %w", err)
		}
		return fmt.Errorf("read the log: the subscription ended early: %w", ctx.Err())
	}

	ids := make([]string, 0, len(chains))
	for id, c := range chains {
		if c.broken != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	fmt.Fprintf(o.stdout, "checked %s (%s) in %s: %d intact, %d broken\n", plural(len(chains), "ticket", "tickets"),
		plural(int(events), "event", "events"), time.Since(started).Round(time.Millisecond), len(chains)-len(ids), len(ids))
	for _, id := range ids {
		c := chains[id]
		fmt.Fprintf(o.stdout, "ticket %s: BROKEN at version %d of %d: %s\n", id, c.broken.Version, c.events, c.broken.Reason)
	}
	if len(ids) > 0 {
		verb := "has"
		if len(ids) > 1 {
			verb = "have"
		}
		return fmt.Errorf("%d of %s %s a broken hash chain", len(ids), plural(len(chains), "ticket", "tickets"), verb)
	}
	return nil
}

func countBroken(chains map[string]*chain) int {
	n := 0
	for _, c := range chains {
		if c.broken != nil {
			n++
		}
	}
	return n
}

// exportLine is one event of an exported history.
type exportLine struct {
	Ticket     string          `json:"ticket_id"`
	Version    uint64          `json:"version"`
	Position   string          `json:"position"`
	Type       string          `json:"type"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
	Metadata   exportMetadata  `json:"metadata"`
	Verified   bool            `json:"verified"`
	Error      string          `json:"error,omitempty"`
}

// exportMetadata is an event's metadata with the chain links it claims.
type exportMetadata struct {
	envelope.Metadata
	Prev envelope.Hash `json:"prev"`
	Hash envelope.Hash `json:"hash"`
}

func auditExport(ctx context.Context, o *options, args []string) error {
	fs := o.flagSet("audit export")
	output := fs.String("o", "", "write to this file instead of stdout")
	fs.StringVar(output, "output", "", "write to this file instead of stdout")
	pos, err := o.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	s, err := o.openStores(ctx, false)
	if err != nil {
		return err
	}
	defer s.Close()
	h, err := history(ctx, s, pos[0])
	if err != nil {
		return err
	}
	w := o.stdout
	var f *os.File
	if *output != "" {
		if f, err = os.Create(*output); err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		w = f
	}
	err = writeHistory(w, h)
	if f != nil {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("audit export: %w", cerr)
		}
	}
	if err != nil {
		return err
	}
	if !h.Intact {
		fmt.Fprintf(o.stderr, "ticket %s: the hash chain is broken at version %d: %s\n", h.TicketID, h.Break.Version, h.Break.Reason)
		return fmt.Errorf("exported %s of ticket %s; the hash chain is broken at version %d", plural(len(h.Records), "event", "events"), h.TicketID, h.Break.Version)
	}
	if *output != "" {
		fmt.Fprintf(o.stderr, "exported %s of ticket %s to %s\n", plural(len(h.Records), "event", "events"), h.TicketID, *output)
	}
	return nil
}

// writeHistory writes one JSON line per record.
func writeHistory(w io.Writer, h audit.History) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, r := range h.Records {
		line := exportLine{Ticket: h.TicketID, Version: r.Version, Position: r.Position.String(), Type: r.Type, RecordedAt: r.Recorded,
			Metadata: exportMetadata{Metadata: r.Metadata, Prev: r.Prev, Hash: r.Hash}, Verified: r.Verified}
		if json.Valid(r.Data) {
			line.Data = r.Data
		} else {
			b, _ := json.Marshal(string(r.Data))
			line.Data = b
		}
		if r.Err != nil {
			line.Error = r.Err.Error()
		}
		if !r.Verified && h.Break != nil && r.Version == h.Break.Version {
			line.Error = strings.TrimSpace(strings.Join([]string{line.Error, "chain broken here: " + h.Break.Reason}, " "))
		}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	return nil
}
