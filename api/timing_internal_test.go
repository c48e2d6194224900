package api

import (
	"testing"
	"time"
)

// TestServerTimingValue: durations in milliseconds to the microsecond, the pacing wait
// only when there was one.
func TestServerTimingValue(t *testing.T) {
	for _, c := range []struct {
		app, paced time.Duration
		want       string
	}{
		{12345 * time.Microsecond, 0, "app;dur=12.345"},
		{40 * time.Millisecond, 15500 * time.Microsecond, "app;dur=40.000, paced;dur=15.500"},
		{800 * time.Nanosecond, 0, "app;dur=0.001"},
	} {
		if got := serverTiming(c.app, c.paced); got != c.want {
			t.Errorf("serverTiming(%v, %v) = %q, want %q", c.app, c.paced, got, c.want)
		}
	}
}
