package eventstore

import "context"

// Pages of ScanBetween: the first is small, since the event right after a follower's
// checkpoint is often one its filter selects, and each next page is four times larger,
// up to scanMaxRead.
const (
	scanFirstRead = 16
	scanMaxRead   = 256
)

// ScanBetween reads the log of s after from, up to and including to, for an event that
// filter selects, reading at most limit events. passed reports that the log up to to is
// readable and holds no such event; otherwise found is the position of the first it
// holds, or the zero Position when the read ended before to (the log, as this reader sees
// it, ends there) or limit events were read first.
//
// It tells a follower whose checkpoint stays short of a position, because the store
// reports its progress through events the follower does not select only now and then,
// whether it has nonetheless passed the position.
func ScanBetween(ctx context.Context, s Store, filter Filter, from, to Position, limit int) (passed bool, found Position, err error) {
	count := scanFirstRead
	for scanned := 0; scanned < limit; {
		page := min(count, limit-scanned)
		evs, err := s.ReadAll(ctx, ReadAllOptions{From: from, Count: page})
		if err != nil {
			return false, Position{}, err
		}
		for _, e := range evs {
			if e.Position.After(to) {
				return true, Position{}, nil
			}
			if filter.Match(e.Stream, e.Type) {
				return false, e.Position, nil
			}
			if e.Position == to {
				return true, Position{}, nil
			}
		}
		if len(evs) < page {
			return false, Position{}, nil
		}
		scanned += len(evs)
		from = evs[len(evs)-1].Position
		count = min(4*count, scanMaxRead)
	}
	return false, Position{}, nil
}
