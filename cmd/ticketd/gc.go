package main

import (
	"runtime/debug"
	"strconv"
)

// defaultGCPercent is the garbage collector's target when GOGC is not set. ticketd's heap
// is small (tens of megabytes under load) and its allocations short-lived, so with Go's
// default of 100 the collector runs often and takes about a tenth of its CPU time; at 400
// it runs a quarter as often for a heap that stays well under a hundred megabytes.
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
