package main

import (
	"runtime/debug"
	"strconv"
)

// defaultGCPercent is the garbage collector's target when GOGC is not set. ticketd's
// allocations are short-lived (requests, decoded events, batches), so at Go's default of
// 100 the collector runs often: about a tenth of ticketd's CPU under a 64-client load.
// At 400 it runs a quarter as often; the price is memory, a peak of about 250 MB resident
// instead of 120 MB under that load. GOMEMLIMIT caps the heap where memory is scarce.
const defaultGCPercent = 400

// tuneGC sets the collector's target to defaultGCPercent unless GOGC says otherwise, and
// returns the target in force.
func tuneGC(getenv func(string) string) int {
	if v := getenv("GOGC"); v != "" {
		if v == "off" {
			return -1
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 100
		}
		return n
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}
