package api

import (
	"testing"
	"time"
)

// TestServerTimingValue: durations in milliseconds to the microsecond, the event store's
// part and the pacing wait only when there was one.
func TestServerTimingValue(t *testing.T) {
	for _, c := range []struct {
		app, store, paced time.Duration
		want              string
	}{
		{12345 * time.Microsecond, 0, 0, "app;dur=12.345"},
		{40 * time.Millisecond, 0, 15500 * time.Microsecond, "app;dur=40.000, paced;dur=15.500"},
		{40 * time.Millisecond, 21250 * time.Microsecond, 0, "app;dur=40.000, store;dur=21.250"},
		{40 * time.Millisecond, 21250 * time.Microsecond, 15500 * time.Microsecond, "app;dur=40.000, store;dur=21.250, paced;dur=15.500"},
		{800 * time.Nanosecond, 0, 0, "app;dur=0.001"},
	} {
		if got := serverTiming(c.app, c.store, c.paced); got != c.want {
			t.Errorf("serverTiming(%v, %v, %v) = %q, want %q", c.app, c.store, c.paced, got, c.want)
		}
	}
}
