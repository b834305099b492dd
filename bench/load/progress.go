package load

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// PlainEvery is how often a Line writes to something that is not a
// terminal (a log file, CI): one line each time.
const PlainEvery = 5 * time.Second

// Line is a live progress line: on a terminal one line rewritten in
// place; elsewhere a plain line every PlainEvery. Its methods may be
// called from any goroutine.
type Line struct {
	w   io.Writer
	tty bool

	mu   sync.Mutex // guards last
	last time.Time  // the last plain line
}

// NewLine returns a progress line on w, rewritten in place when w is a
// terminal.
func NewLine(w io.Writer) *Line {
	l := &Line{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			l.tty = true
		}
	}
	return l
}

// Show shows s as the current progress.
func (l *Line) Show(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty {
		fmt.Fprintf(l.w, "\r%s\x1b[K", s)
		return
	}
	if now := time.Now(); now.Sub(l.last) >= PlainEvery {
		l.last = now
		fmt.Fprintln(l.w, s)
	}
}

// Done shows s as the final progress and ends the line.
func (l *Line) Done(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty {
		fmt.Fprintf(l.w, "\r%s\x1b[K\n", s)
		return
	}
	fmt.Fprintln(l.w, s)
}
