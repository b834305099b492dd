package gateway

import (
	"slices"
	"strings"

	"github.com/cloudwego/hertz/pkg/route"
)

// entityTag is one entity tag of a conditional header field.
type entityTag struct {
	weak   bool
	opaque string // quotes included: "1234"
}

// parseETags reads If-Match or If-None-Match (RFC 9110 sections 13.1.1
// and 13.1.2): "*", which names any current representation, or a
// comma-separated list of entity tags, each "W/" or not. Several fields
// make one list, and empty list elements are skipped (section 5.6.1.2).
// ok is false for a field that does not parse: an unquoted tag, "*"
// inside a list, a lowercase "w/", a control character or space in a
// tag, no comma between tags.
func parseETags(fields []string) (star bool, tags []entityTag, ok bool) {
	list := strings.Join(fields, ",")
	if strings.Trim(list, " \t") == "*" {
		return true, nil, true
	}
	for rest := list; ; {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return false, tags, true
		}
		var t entityTag
		rest, t.weak = strings.CutPrefix(rest, "W/")
		if rest == "" || rest[0] != '"' { // "W/" alone was an index out of range
			return false, nil, false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return false, nil, false
		}
		t.opaque = rest[:end+2]
		for i := 1; i < len(t.opaque)-1; i++ {
			if c := t.opaque[i]; c < 0x21 || c == 0x7f { // etagc: %x21 / %x23-7E / obs-text
				return false, nil, false
			}
		}
		tags = append(tags, t)
		rest = strings.TrimLeft(rest[end+2:], " \t")
		if rest != "" && rest[0] != ',' {
			return false, nil, false
		}
	}
}

// noneMatch reports whether If-None-Match names the current
// representation, whose entity tag is etag (strong, quoted), so that a
// GET or HEAD answers 304 (RFC 9110 section 13.1.2): "*", or a tag equal
// to etag under weak comparison, where only the quoted opaque tags must
// be equal. A field that does not parse is ignored as a whole, as if
// absent: the full answer is always a correct reply, and a 304 is sent
// only when the client surely holds the representation.
func noneMatch(fields []string, etag string) bool {
	star, tags, ok := parseETags(fields)
	return ok && (star || slices.ContainsFunc(tags, func(t entityTag) bool { return t.opaque == etag }))
}

// ifMatch reports whether If-Match lets a read of the representation
// whose entity tag is etag (strong, quoted) be answered (RFC 9110
// section 13.1.1): no field, "*" (there is a current representation),
// or a tag equal to etag under strong comparison, where a weak tag never
// matches. A field that does not parse fails: If-Match asks for an
// answer only about a representation the client names, and one it did
// not clearly name is none.
func ifMatch(fields []string, etag string) bool {
	if len(fields) == 0 {
		return true
	}
	star, tags, ok := parseETags(fields)
	return ok && (star || slices.Contains(tags, entityTag{opaque: etag}))
}

// allowTable knows each route pattern's methods, for the Allow header a
// 405 answer must carry (RFC 9110 section 15.5.6). Hertz finds that a
// path has routes under other methods but does not say which.
type allowTable []allowRoute

type allowRoute struct {
	segments []string // of the pattern; ":name" matches any one segment
	methods  []string
}

func newAllowTable(routes route.RoutesInfo) allowTable {
	var t allowTable
	for _, r := range routes {
		segs := strings.Split(r.Path, "/")
		i := slices.IndexFunc(t, func(a allowRoute) bool { return slices.Equal(a.segments, segs) })
		if i < 0 {
			i = len(t)
			t = append(t, allowRoute{segments: segs})
		}
		if !slices.Contains(t[i].methods, r.Method) {
			t[i].methods = append(t[i].methods, r.Method)
		}
	}
	return t
}

// allow returns the methods of the routes that match path, sorted, as an
// Allow header lists them.
func (t allowTable) allow(path string) string {
	segs := strings.Split(path, "/")
	var methods []string
	for _, r := range t {
		if len(r.segments) != len(segs) {
			continue
		}
		match := true
		for i, s := range r.segments {
			match = match && (s == segs[i] || strings.HasPrefix(s, ":") && segs[i] != "")
		}
		if match {
			methods = append(methods, r.methods...)
		}
	}
	slices.Sort(methods)
	return strings.Join(slices.Compact(methods), ", ")
}
