package gateway

import (
	"io"
	"strconv"
	"unicode/utf8"
)

// programStream renders a program's description in the contract's shape
// (DESIGN.md 6.1, "program create" plus sale_open) from a cached layout,
// a row at a time, as the response body is written. The JSON of a grid
// is about 27 bytes a seat, 113 MB for the largest program seatd takes
// (inventory.MaxSeatsPerProgram): rendered whole, a few concurrent reads
// of a program of a million seats took the gateway past a gigabyte. Streamed, a read holds one
// row's JSON (at most inventory.MaxRowWidth seats) besides the shared
// layout, however large the program, and costs seatd nothing but its sale
// state.
type programStream struct {
	l    *layout
	open bool
	cats [][]byte // the categories' ids as JSON strings, by index
	buf  []byte   // rendered and not yet read from off on
	off  int
	row  int  // the next row to render, in layout order
	sec  int  // the section of the next row
	done bool // the closing brackets are rendered
}

func newProgramStream(l *layout, saleOpen bool) *programStream {
	s := &programStream{l: l, open: saleOpen, cats: make([][]byte, len(l.categories))}
	for i, c := range l.categories {
		s.cats[i] = appendJSONString(nil, c)
	}
	s.buf = append(s.buf, l.head...)
	s.buf = append(s.buf, `,"sale_open":`...)
	s.buf = strconv.AppendBool(s.buf, saleOpen)
	s.buf = append(s.buf, `,"layout":{"sections":[`...)
	return s
}

// Read renders the next row when everything rendered has been read.
func (s *programStream) Read(p []byte) (int, error) {
	for s.off == len(s.buf) {
		if s.done {
			return 0, io.EOF
		}
		s.buf, s.off = s.buf[:0], 0
		s.renderRow()
	}
	n := copy(p, s.buf[s.off:])
	s.off += n
	return n, nil
}

// renderRow renders the next row, opening and closing sections around
// it, or the end of the answer after the last row.
func (s *programStream) renderRow() {
	l, b := s.l, s.buf
	if s.row == len(l.rows) {
		s.buf, s.done = append(b, "]}]}}"...), true
		return
	}
	sec := &l.sections[s.sec]
	if s.row == sec.first+sec.rows { // the next section
		s.sec++
		sec = &l.sections[s.sec]
		b = append(b, "]},"...)
	}
	if s.row == sec.first {
		b = append(b, `{"id":`...)
		b = appendJSONString(b, sec.id)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, sec.name)
		if sec.at != nil {
			b = append(b, `,"x":`...)
			b = strconv.AppendInt(b, int64(sec.at.X), 10)
			b = append(b, `,"y":`...)
			b = strconv.AppendInt(b, int64(sec.at.Y), 10)
		}
		b = append(b, `,"rows":[`...)
	} else {
		b = append(b, ',')
	}
	row := &l.rows[s.row]
	b = append(b, `{"id":`...)
	b = appendJSONString(b, row.id)
	b = append(b, `,"rank":`...)
	b = strconv.AppendInt(b, int64(row.rank), 10)
	b = append(b, `,"seats":[`...)
	f := s.firstFlagged(row.first)
	for i := row.first; i < row.first+row.seats; i++ {
		if i > row.first {
			b = append(b, ',')
		}
		b = append(b, `{"col":`...)
		b = strconv.AppendUint(b, uint64(l.cols[i]), 10)
		if label := l.ownLabel(i); label != "" {
			b = append(b, `,"label":`...)
			b = appendJSONString(b, label)
		}
		b = append(b, `,"category":`...)
		b = append(b, s.cats[l.cats[i]]...)
		if f < len(l.flagged) && l.flagged[f] == uint32(i) {
			if l.flags[f]&flagAccessible != 0 {
				b = append(b, `,"accessible":true`...)
			}
			if l.flags[f]&flagAisle != 0 {
				b = append(b, `,"aisle":true`...)
			}
			f++
		}
		b = append(b, '}')
	}
	s.buf = append(b, "]}"...)
	s.row++
}

// firstFlagged returns the index in layout.flagged of the first flagged
// seat at or after seat i.
func (s *programStream) firstFlagged(i int) int {
	lo, hi := 0, len(s.l.flagged)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.l.flagged[m] < uint32(i) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it: HTML's <, > and & too, and U+2028 and U+2029, so that an
// answer that echoes operators' names is never read as markup or script;
// invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			default:
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
