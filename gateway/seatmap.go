package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cloudwego/hertz/pkg/app"

	rpc "seatd/kitex_gen/inventoryrpc"
)

// readQuery is what a seat map or availability request asks for.
type readQuery struct {
	program, category, section string
	compact, consistent        bool
	askFrom, askTo             *int64 // stop indexes as asked, nil when left out
	from, to                   int32  // the leg range, once resolveRange checked it against the program's stops
}

// queryParam returns a query parameter's value and whether it was given,
// refusing one given twice: which of two values was meant is a guess.
func queryParam(c *app.RequestContext, name string) (string, bool, *apiError) {
	switch vs := c.QueryArgs().PeekAll(name); len(vs) {
	case 0:
		return "", false, nil
	case 1:
		return string(vs[0]), true, nil
	default:
		return "", false, invalid("INVALID_ARGUMENT", name, "given more than once")
	}
}

// parseRead reads a seat map's (seatMap) or an availability request's
// query. Each value out of its range is a 422 naming the parameter.
func parseRead(c *app.RequestContext, seatMap bool) (q readQuery, aerr *apiError) {
	q.program = c.Param("id")
	stop := func(name string) (*int64, *apiError) {
		v, ok, aerr := queryParam(c, name)
		if aerr != nil || !ok {
			return nil, aerr
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, invalid("INVALID_ARGUMENT", name, "%q, want a stop index (an integer)", v)
		}
		return &n, nil
	}
	if q.askFrom, aerr = stop("from"); aerr != nil {
		return q, aerr
	}
	if q.askTo, aerr = stop("to"); aerr != nil {
		return q, aerr
	}
	consistent, aerr := choice(c, "consistent", "false", "true")
	if aerr != nil {
		return q, aerr
	}
	q.consistent = consistent == "true"
	if !seatMap {
		return q, nil
	}
	category, ok, aerr := queryParam(c, "category")
	if aerr == nil && ok && category == "" {
		aerr = invalid("INVALID_ARGUMENT", "category", "want a category id, or leave category out for every category")
	}
	if aerr != nil {
		return q, aerr
	}
	q.category = category
	section, ok, aerr := queryParam(c, "section")
	if aerr == nil && ok && section == "" {
		aerr = invalid("INVALID_ARGUMENT", "section", "want a section id")
	}
	if aerr != nil {
		return q, aerr
	}
	q.section = section
	format, aerr := choice(c, "format", "full", "compact")
	q.compact = format == "compact"
	return q, aerr
}

// choice reads a query parameter that takes one of a few values; absent,
// it is the first.
func choice(c *app.RequestContext, name string, values ...string) (string, *apiError) {
	v, ok, aerr := queryParam(c, name)
	if aerr != nil || !ok {
		return values[0], aerr
	}
	if !slices.Contains(values, v) {
		return "", invalid("INVALID_ARGUMENT", name, "%q, want %s", v, strings.Join(values, " or "))
	}
	return v, nil
}

// layout returns a program's layout: from the cache, else from seatd
// once however many requests ask at the same time.
func (g *Gateway) layout(ctx context.Context, program string) (*layout, *apiError) {
	e := g.cache.entry(cacheKey{layout: true, program: program})
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.layout != nil {
		return e.layout, nil
	}
	l, aerr := g.fetchLayout(ctx, program)
	if aerr != nil {
		g.cache.drop(e)
		return nil, aerr
	}
	g.setLayoutLocked(ctx, e, l)
	g.metrics.layouts.WithLabelValues("fetched").Inc()
	return l, nil
}

// maxLayoutBuilds bounds the layouts fetched and decoded at once.
// Decoding checks a description as the engine does
// (inventory.ReadProgramSpec): for a program of 4,194,304 seats, the most
// there is, about half a second and 450 MB that are garbage right after,
// of which the cache keeps 3 bytes a seat. Readers of more large programs
// than the cache holds at once then cost at most this many decodes'
// memory, and wait for their turn within their deadline.
const maxLayoutBuilds = 2

// fetchLayout reads a program's description from seatd and decodes it.
func (g *Gateway) fetchLayout(ctx context.Context, program string) (*layout, *apiError) {
	release, aerr := g.buildSlot(ctx)
	if aerr != nil {
		return nil, aerr
	}
	defer release()
	p, err := g.inv.GetProgram(ctx, &rpc.GetProgramRequest{ProgramId: program})
	if err != nil {
		return nil, callError(err)
	}
	if aerr := statusError(p.Status); aerr != nil {
		return nil, aerr
	}
	return decodeLayout(p.Spec)
}

// buildSlot waits for one of the maxLayoutBuilds slots, within ctx, and
// returns its release.
func (g *Gateway) buildSlot(ctx context.Context) (func(), *apiError) {
	select {
	case g.builds <- struct{}{}:
		return func() { <-g.builds }, nil
	case <-ctx.Done():
		return nil, callError(ctx.Err())
	}
}

// decodeLayout decodes a description seatd sent.
func decodeLayout(spec []byte) (*layout, *apiError) {
	l, err := layoutOf(spec)
	if err != nil {
		return nil, &apiError{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: err.Error()}
	}
	return l, nil
}

// createdLayout returns the layout of a program a create answered with
// (spec, its description): the cached one if there is one (a
// description never changes, so the two are the same), else decoded,
// like a fetched one at most maxLayoutBuilds at a time, and cached.
func (g *Gateway) createdLayout(ctx context.Context, program string, spec []byte) (*layout, *apiError) {
	e := g.cache.entry(cacheKey{layout: true, program: program})
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.layout != nil {
		return e.layout, nil
	}
	release, aerr := g.buildSlot(ctx)
	if aerr != nil {
		g.cache.drop(e)
		return nil, aerr
	}
	defer release()
	l, aerr := decodeLayout(spec)
	if aerr != nil {
		g.cache.drop(e)
		return nil, aerr
	}
	g.setLayoutLocked(ctx, e, l)
	g.metrics.layouts.WithLabelValues("created").Inc()
	return l, nil
}

// setLayoutLocked fills a layout entry, with its mu held.
func (g *Gateway) setLayoutLocked(ctx context.Context, e *entry, l *layout) {
	e.layout = l
	if !g.cache.charge(e, l.size) {
		g.cfg.Log.WarnContext(ctx, "gateway_layout_not_cached", "program", e.key.program, "bytes", l.size, "max_entry_bytes", g.cache.maxEntry)
	}
}

// resolveRange checks a query's leg range against the program's stops
// (checkStops: to defaults to the last stop), so that answers say which
// range they are about.
func resolveRange(q *readQuery, l *layout) (aerr *apiError) {
	q.from, q.to, aerr = checkStops(q.askFrom, q.askTo, l.stops)
	return aerr
}

// etagOf is the ETag of a version: a strong tag of the version string,
// which is digits and a dot.
func etagOf(version string) string { return `"` + version + `"` }

// versioned answers a seat map or availability request under key k. A
// consistent read goes to seatd through the group's leader and is never
// served from, nor kept in, the cache; any other is served through the
// cache. The version of the answer is the body's "version" and its
// ETag, which the preconditions are evaluated against once the read has
// succeeded (a failed read answers its error whatever they say), in RFC
// 9110 section 13.2.2's order: If-Match not naming it gets 412,
// If-None-Match naming it 304. fetch reads seatd and returns the version
// and a render of the body for it.
func (g *Gateway) versioned(c *app.RequestContext, k cacheKey, consistent bool,
	fetch func(consistent bool) (string, func() []byte, *apiError)) *apiError {
	var body []byte
	var render func() []byte
	var version, served string
	if consistent {
		var aerr *apiError
		if version, render, aerr = fetch(true); aerr != nil {
			return aerr
		}
		served = servedDirect
	} else {
		var aerr *apiError
		body, version, served, aerr = g.cache.answer(k, g.cfg.Clock(), g.cfg.SeatMapMaxAge, func() (string, func() []byte, *apiError) {
			return fetch(false)
		})
		if aerr != nil {
			return aerr
		}
	}
	g.metrics.answers.WithLabelValues(k.kind, served).Inc()
	etag := etagOf(version)
	c.Header("ETag", etag)
	c.Header("Cache-Control", "no-cache")
	if !ifMatch(c.Request.Header.GetAll("If-Match"), etag) {
		return invalid("PRECONDITION_FAILED", "If-Match", "the current version's ETag is %s, which the field does not name (compared strongly: a W/ tag never matches)", etag).
			status(http.StatusPreconditionFailed)
	}
	if noneMatch(c.Request.Header.GetAll("If-None-Match"), etag) {
		c.SetStatusCode(http.StatusNotModified)
		return nil
	}
	if render != nil {
		body = render()
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
	return nil
}

// readVersion checks a read's answer from seatd: its status, and that it
// carries a version.
func readVersion(st *rpc.Status, version string) *apiError {
	if aerr := statusError(st); aerr != nil {
		return aerr
	}
	if version == "" {
		return &apiError{Status: http.StatusInternalServerError, Code: "INTERNAL", Message: "seatd answered a read without a version"}
	}
	return nil
}

// versionHead starts every versioned answer: what it is about, and the
// program's version it shows.
type versionHead struct {
	ProgramID string `json:"program_id"`
	Version   string `json:"version"`
	From      int32  `json:"from"`
	To        int32  `json:"to"`
}

type seatStateJSON struct {
	ID       string `json:"id"`
	Section  string `json:"section"`
	Row      string `json:"row"`
	Col      int32  `json:"col"`
	Label    string `json:"label"`
	Category string `json:"category"`
	Status   string `json:"status"`
}

// compactMapJSON is a seat map in the compact format: per row, one status
// character per seat in the row's seat order, as the program's layout
// lists them.
type compactMapJSON struct {
	versionHead
	Format   string               `json:"format"`
	Sections []compactSectionJSON `json:"sections"`
}

type compactSectionJSON struct {
	ID   string           `json:"id"`
	Rows []compactRowJSON `json:"rows"`
}

type compactRowJSON struct {
	ID       string `json:"id"`
	Statuses string `json:"statuses"`
}

var (
	seatStatusNames = [4]string{"free", "held", "sold", "blocked"}
	// seatStatusChars are the compact format's status characters; a seat
	// outside the category asked for is '.'.
	seatStatusChars = [4]byte{'f', 'h', 's', 'b'}
)

// readOf parses a seat map's (seatMap) or an availability request and
// checks its leg range against the program's layout.
func (g *Gateway) readOf(ctx context.Context, c *app.RequestContext, seatMap bool) (readQuery, *layout, *apiError) {
	q, aerr := parseRead(c, seatMap)
	if aerr != nil {
		return q, nil, aerr
	}
	l, aerr := g.layout(ctx, q.program)
	if aerr != nil {
		return q, nil, aerr
	}
	aerr = resolveRange(&q, l)
	return q, l, aerr
}

func (g *Gateway) seatMap(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	q, l, aerr := g.readOf(ctx, c, true)
	if aerr != nil {
		return aerr
	}
	sections, cat := [2]int{0, len(l.sections)}, -1
	if q.section != "" {
		s, ok := l.section(q.section)
		if !ok {
			return invalid("INVALID_ARGUMENT", "section", "program %s has no section %q", q.program, q.section)
		}
		sections = [2]int{s, s + 1}
	}
	if q.category != "" {
		var ok bool
		if cat, ok = l.category(q.category); !ok {
			return invalid("UNKNOWN_CATEGORY", "category", "program %s has no category %q", q.program, q.category)
		}
	}
	format := "full"
	if q.compact {
		format = "compact"
	} else if n := l.count(sections[0], sections[1], cat); n > g.cfg.MaxFullSeatMapSeats {
		todo := "page by section (section=ID, ids in the program's layout) or ask for format=compact"
		if q.section != "" {
			todo = "ask for format=compact"
		}
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "SEAT_MAP_TOO_LARGE",
			Message: fmt.Sprintf("the map has %d seats, more than the %d the full format lists: %s", n, g.cfg.MaxFullSeatMapSeats, todo),
			Details: map[string]any{"seats": n, "max_seats": g.cfg.MaxFullSeatMapSeats}}
	}
	k := cacheKey{kind: "seats", program: q.program, category: q.category, section: q.section, format: format, from: q.from, to: q.to}
	return g.versioned(c, k, q.consistent, func(consistent bool) (string, func() []byte, *apiError) {
		resp, err := g.inv.SeatMap(ctx, &rpc.SeatMapRequest{ProgramId: q.program, FromLeg: q.from, ToLeg: q.to, Consistent: consistent})
		if err != nil {
			return "", nil, callError(err)
		}
		if aerr := readVersion(resp.Status, resp.Version); aerr != nil {
			return "", nil, aerr
		}
		if len(resp.Statuses) != l.numSeats() {
			return "", nil, &apiError{Status: http.StatusInternalServerError, Code: "INTERNAL",
				Message: fmt.Sprintf("program %s: seatd sent %d seat statuses for a layout of %d seats", q.program, len(resp.Statuses), l.numSeats())}
		}
		head := versionHead{q.program, resp.Version, q.from, q.to}
		return resp.Version, func() []byte {
			if q.compact {
				return encode(compactMap(head, l, resp.Statuses, sections, cat))
			}
			return encode(fullMap(head, l, resp.Statuses, sections, cat))
		}, nil
	})
}

// fullMap lists the seats of sections [sections[0], sections[1]) in
// category cat (-1: any), each with its status: the contract's shape.
func fullMap(head versionHead, l *layout, statuses []byte, sections [2]int, cat int) any {
	out := struct {
		versionHead
		Seats []seatStateJSON `json:"seats"`
	}{head, make([]seatStateJSON, 0, l.count(sections[0], sections[1], cat))}
	for _, sec := range l.sections[sections[0]:sections[1]] {
		for _, row := range l.rows[sec.first : sec.first+sec.rows] {
			for i := row.first; i < row.first+row.seats; i++ {
				if cat >= 0 && int(l.cats[i]) != cat {
					continue
				}
				col := strconv.Itoa(int(l.cols[i]))
				out.Seats = append(out.Seats, seatStateJSON{sec.id + "/" + row.id + "/" + col, sec.id, row.id, int32(l.cols[i]), l.label(i),
					l.categories[l.cats[i]], seatStatusNames[statuses[i]&3]})
			}
		}
	}
	return out
}

// compactMap is the same seats as fullMap, a character each; rows and
// sections without a seat in the category are left out.
func compactMap(head versionHead, l *layout, statuses []byte, sections [2]int, cat int) any {
	out := compactMapJSON{versionHead: head, Format: "compact", Sections: []compactSectionJSON{}}
	var buf []byte
	for si, sec := range l.sections[sections[0]:sections[1]] {
		if cat >= 0 && l.count(sections[0]+si, sections[0]+si+1, cat) == 0 {
			continue
		}
		cs := compactSectionJSON{ID: sec.id, Rows: make([]compactRowJSON, 0, sec.rows)}
		for _, row := range l.rows[sec.first : sec.first+sec.rows] {
			buf = buf[:0]
			in := false
			for i := row.first; i < row.first+row.seats; i++ {
				if cat >= 0 && int(l.cats[i]) != cat {
					buf = append(buf, '.')
					continue
				}
				buf, in = append(buf, seatStatusChars[statuses[i]&3]), true
			}
			if in {
				cs.Rows = append(cs.Rows, compactRowJSON{ID: row.id, Statuses: string(buf)})
			}
		}
		out.Sections = append(out.Sections, cs)
	}
	return out
}

// encode renders an answer.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("gateway: encode %T: %v", v, err)) // every answer type encodes
	}
	return b
}

type categoryCountJSON struct {
	ID       string `json:"id"`
	Capacity int32  `json:"capacity"`
	Free     int32  `json:"free"`
	Held     int32  `json:"held"`
	Sold     int32  `json:"sold"`
	Blocked  int32  `json:"blocked"`
}

func (g *Gateway) availability(ctx context.Context, c *app.RequestContext, _ int64) *apiError {
	q, _, aerr := g.readOf(ctx, c, false)
	if aerr != nil {
		return aerr
	}
	k := cacheKey{kind: "availability", program: q.program, from: q.from, to: q.to}
	return g.versioned(c, k, q.consistent, func(consistent bool) (string, func() []byte, *apiError) {
		resp, err := g.inv.Availability(ctx, &rpc.AvailabilityRequest{ProgramId: q.program, FromLeg: q.from, ToLeg: q.to, Consistent: consistent})
		if err != nil {
			return "", nil, callError(err)
		}
		if aerr := readVersion(resp.Status, resp.Version); aerr != nil {
			return "", nil, aerr
		}
		return resp.Version, func() []byte {
			out := struct {
				versionHead
				Categories []categoryCountJSON `json:"categories"`
			}{versionHead{q.program, resp.Version, q.from, q.to}, make([]categoryCountJSON, len(resp.Categories))}
			for i, cc := range resp.Categories {
				out.Categories[i] = categoryCountJSON{cc.Id, cc.Capacity, cc.Free, cc.Held, cc.Sold, cc.Blocked}
			}
			return encode(out)
		}, nil
	})
}
