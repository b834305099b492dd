package gateway

import (
	"slices"
	"strings"

	"github.com/cloudwego/hertz/pkg/route"
)

// noneMatch reports whether If-None-Match names the current
// representation, whose entity tag is etag (strong, quoted), so that a
// GET or HEAD answers 304 (RFC 9110 section 13.1.2). The field is "*",
// which names any current representation, or a comma-separated list of
// entity tags, each "W/" or not, compared weakly: only the quoted
// opaque tags must be equal. Several fields make one list, and empty
// list elements are skipped (section 5.6.1.2).
//
// A field that does not parse (an unquoted tag, "*" inside a list, a
// lowercase "w/", a control character) is ignored as a whole, as if
// absent: the full answer is always a correct reply, and a 304 is sent
// only when the client surely holds the representation.
func noneMatch(fields []string, etag string) bool {
	list := strings.Join(fields, ",")
	if strings.Trim(list, " \t") == "*" {
		return true
	}
	matched := false
	for rest := list; ; {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return matched
		}
		rest = strings.TrimPrefix(rest, "W/")
		if rest[0] != '"' {
			return false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return false
		}
		tag := rest[:end+2]
		for i := 1; i < len(tag)-1; i++ {
			if c := tag[i]; c < 0x21 || c == 0x7f { // etagc: %x21 / %x23-7E / obs-text
				return false
			}
		}
		matched = matched || tag == etag
		rest = strings.TrimLeft(rest[end+2:], " \t")
		if rest != "" && rest[0] != ',' {
			return false
		}
	}
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
