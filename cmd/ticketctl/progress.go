package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// progressBar draws the progress of a long operation: redrawn in place on a terminal,
// one line at most every second on anything else. It is not safe for concurrent use.
type progressBar struct {
	w     io.Writer
	tty   bool
	label string
	last  time.Time
	width int // of the last line drawn on a terminal
}

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, tty: isTerminal(w), label: label}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress is one report: done of total units (total < 0: unknown; fraction, when not
// negative, then gives the share done), the rate in units per second, the time left
// (zero: unknown) and a note.
type progress struct {
	done, total int64
	fraction    float64
	unit        string
	rate        float64
	remaining   time.Duration
	note        string
}

// update draws p unless the last drawing is too recent and force is false.
func (b *progressBar) update(p progress, force bool) {
	now := time.Now()
	every := time.Second
	if b.tty {
		every = 100 * time.Millisecond
	}
	if !force && now.Sub(b.last) < every {
		return
	}
	b.last = now
	frac := p.fraction
	if p.total > 0 {
		frac = float64(p.done) / float64(p.total)
	} else if p.total == 0 {
		frac = 1
	}
	var s strings.Builder
	s.WriteString(b.label)
	if frac >= 0 {
		frac = min(frac, 1)
		const cells = 24
		n := int(frac * cells)
		fmt.Fprintf(&s, "  [%s%s] %3.0f%%", strings.Repeat("#", n), strings.Repeat(".", cells-n), frac*100)
	}
	if p.total >= 0 {
		fmt.Fprintf(&s, "  %s/%s %s", count(p.done), count(p.total), p.unit)
	} else {
		fmt.Fprintf(&s, "  %s %s", count(p.done), p.unit)
	}
	if p.rate > 0 {
		fmt.Fprintf(&s, "  %s %s/s", count(int64(p.rate)), p.unit)
	}
	if p.remaining > 0 {
		fmt.Fprintf(&s, "  %s left", p.remaining.Round(time.Second))
	}
	if p.note != "" {
		fmt.Fprintf(&s, "  %s", p.note)
	}
	line := s.String()
	if b.tty {
		pad := max(0, b.width-len(line))
		fmt.Fprintf(b.w, "\r%s%s", line, strings.Repeat(" ", pad))
		b.width = len(line)
		return
	}
	fmt.Fprintln(b.w, line)
}

// finish ends the bar's line on a terminal.
func (b *progressBar) finish() {
	if b.tty && b.width > 0 {
		fmt.Fprintln(b.w)
		b.width = 0
	}
}

// count formats n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
