package esdbtest

import (
	"context"
	"regexp"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// defaultSearchWindow is the window a node uses when the client asks for none.
const defaultSearchWindow = 32

// filter is a server-side $all filter on stream names or event types: a regular
// expression if one was given, else a list of prefixes. A nil filter passes everything.
type filter struct {
	onType   bool
	re       *regexp.Regexp
	prefixes []string
	// interval is the number of events scanned between checkpoints.
	interval int
}

func newFilter(o *streams.ReadReq_Options) (*filter, error) {
	fo := o.GetFilter()
	if fo == nil {
		return nil, nil
	}
	f := &filter{}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	switch e := fo.GetFilter().(type) {
	case *streams.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = e.StreamIdentifier
	case *streams.ReadReq_Options_FilterOptions_EventType:
		expr, f.onType = e.EventType, true
	default:
		return nil, status.Error(codes.InvalidArgument, "filter without stream identifier or event type")
	}
	if r := expr.GetRegex(); r != "" {
		re, err := regexp.Compile(r)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "filter regex %q: %v", r, err)
		}
		f.re = re
	} else {
		f.prefixes = expr.GetPrefix()
	}
	window := uint32(defaultSearchWindow)
	if w, ok := fo.GetWindow().(*streams.ReadReq_Options_FilterOptions_Max); ok {
		window = w.Max
	}
	multiplier := fo.GetCheckpointIntervalMultiplier()
	if window == 0 || multiplier == 0 {
		return nil, status.Error(codes.InvalidArgument, "filter window and checkpoint interval multiplier must be positive")
	}
	f.interval = int(window) * int(multiplier)
	return f, nil
}

func (f *filter) match(r *record) bool {
	if f == nil {
		return true
	}
	s := r.stream
	if f.onType {
		s = r.eventType
	}
	if f.re != nil {
		return f.re.MatchString(s)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// subscribeAll serves a catch-up subscription to $all: a confirmation, the stored events
// after the start (checkpoints every filter interval of events scanned, and one at the end
// of catch-up, when filtered), caught_up, then live events until the call ends.
func (s *streamsService) subscribeAll(ctx context.Context, w writer, o *streams.ReadReq_Options_AllOptions, f *filter) error {
	log, changed := s.db.logSnapshot()
	next := 0
	switch p := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		next = firstAfter(log, p.Position.GetCommitPosition())
	case *streams.ReadReq_Options_AllOptions_End:
		next = len(log)
	}
	if err := w.confirmation(); err != nil {
		return err
	}
	var scanned int
	var last, checkpointed uint64
	live := false
	for {
		for ; next < len(log); next++ {
			r := log[next]
			if f.match(r) {
				if err := w.event(r); err != nil {
					return err
				}
			}
			last = r.position
			if f == nil {
				continue
			}
			scanned++
			if scanned >= f.interval {
				scanned = 0
				if err := w.checkpoint(last); err != nil {
					return err
				}
				checkpointed = last
			}
		}
		if !live {
			if f != nil && last > checkpointed {
				if err := w.checkpoint(last); err != nil {
					return err
				}
				checkpointed = last
			}
			if err := w.caughtUp(); err != nil {
				return err
			}
			live = true
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-changed:
		}
		log, changed = s.db.logSnapshot()
	}
}

// subscribeStream serves a catch-up subscription to one stream: a confirmation, the
// stored events after the start, caught_up, then live events until the call ends or the
// stream is tombstoned.
func (s *streamsService) subscribeStream(ctx context.Context, w writer, o *streams.ReadReq_Options_StreamOptions) error {
	name := string(o.GetStreamIdentifier().GetStreamName())
	recs, tombstoned, changed := s.db.streamSnapshot(name)
	if tombstoned {
		return failure(w.srv.SetTrailer, "Read", &errStreamDeleted{stream: name})
	}
	var next uint64
	switch r := o.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		next = r.Revision + 1
	case *streams.ReadReq_Options_StreamOptions_End:
		if len(recs) > 0 {
			next = recs[len(recs)-1].revision + 1
		} else {
			next = uint64(s.streamLength(name))
		}
	}
	if err := w.confirmation(); err != nil {
		return err
	}
	live := false
	for {
		for _, r := range recs {
			if r.revision < next {
				continue
			}
			if err := w.event(r); err != nil {
				return err
			}
			next = r.revision + 1
		}
		if !live {
			if err := w.caughtUp(); err != nil {
				return err
			}
			live = true
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-changed:
		}
		recs, tombstoned, changed = s.db.streamSnapshot(name)
		if tombstoned {
			return failure(w.srv.SetTrailer, "Read", &errStreamDeleted{stream: name})
		}
	}
}

// streamLength is the number of events ever written to name, deleted or not.
func (s *streamsService) streamLength(name string) int {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	if st := s.db.streams[name]; st != nil {
		return len(st.records)
	}
	return 0
}
