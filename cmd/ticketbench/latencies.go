package main

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"
)

// writeLatencies writes every successful command of the load to path as CSV, in the
// order they were sent: when it was sent (milliseconds from the load's start), its kind
// its latency in milliseconds and, where its answer said (Server-Timing), the server's own
// time for it, how long of it the answer waited for a read model and how long it spent
// appending to the event store, in milliseconds.
// The file shows when the slow commands came, which
// percentiles alone do not.
func writeLatencies(path string, st workerStats) error {
	type row struct {
		kind int
		sample
	}
	var rows []row
	for k := range kinds {
		for _, s := range st.samples[k] {
			rows = append(rows, row{kind: k, sample: s})
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.started, b.started) })
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--latencies: %w", err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("started_ms,kind,latency_ms,server_ms,paced_ms,store_ms\n")
	var buf []byte
	for _, r := range rows {
		buf = strconv.AppendFloat(buf[:0], msFloat(r.started), 'f', 3, 64)
		buf = append(buf, ',')
		buf = append(buf, kindNames[r.kind]...)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, msFloat(r.latency), 'f', 3, 64)
		buf = append(buf, ',')
		if r.served >= 0 {
			buf = strconv.AppendFloat(buf, msFloat(r.served), 'f', 3, 64)
			buf = append(buf, ',')
			buf = strconv.AppendFloat(buf, msFloat(r.paced), 'f', 3, 64)
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, ',')
		if r.stored >= 0 {
			buf = strconv.AppendFloat(buf, msFloat(r.stored), 'f', 3, 64)
		}
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("--latencies: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--latencies: %w", err)
	}
	return nil
}

func msFloat(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
