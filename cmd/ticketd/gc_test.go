package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return v
			}
			return ""
		}
	}
	if got := tuneGC(env("50")); got != 50 {
		t.Fatalf("GOGC=50: tuneGC says %d", got)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC=50: the target changed to %d; the runtime applies GOGC itself", got)
	}
	if got := tuneGC(env("")); got != defaultGCPercent {
		t.Fatalf("GOGC unset: tuneGC says %d", got)
	}
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("GOGC unset: the target is %d, want %d", got, defaultGCPercent)
	}
	if got := tuneGC(env("off")); got != -1 {
		t.Fatalf("GOGC=off: tuneGC says %d", got)
	}
}
