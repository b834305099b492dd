package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// loadOpenAPI loads openapi.yaml with kin-openapi and validates it as an
// OpenAPI 3 document (every path parameter declared, every $ref
// resolved, schemas, examples and patterns well formed), and returns it
// with a router over its operations.
func loadOpenAPI(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPISpec)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableSchemaPatternValidation(), openapi3.EnableSchemaFormatValidation()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI 3: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc, router
}

// bearerPresent satisfies a security requirement when the request
// carries a bearer token: whether it is a good one is the server's to
// say, and the answers' statuses say it.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if _, ok := bearer(in.RequestValidationInput.Request.Header.Get("Authorization")); !ok {
		return errors.New("no bearer token")
	}
	return nil
}

// checkExchange checks one request and its answer against the
// description, both ways: the answer must be described (its status
// listed for the operation, its headers and body as described), a
// request the description refuses must be refused (4xx), and a request
// it allows must not be refused as malformed (400, 413, 415). It
// returns the operation, "METHOD /template", or "" for a path the
// description does not have.
func checkExchange(doc *openapi3.T, router routers.Router, ex exchange) (string, []error) {
	ctx := context.Background()
	var errs []error
	fail := func(format string, args ...any) {
		msg := strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " ")
		if len(msg) > 800 {
			msg = msg[:800] + "..."
		}
		errs = append(errs, fmt.Errorf("%s %s %d: %s", ex.req.Method, ex.req.URL.RequestURI(), ex.status, msg))
	}
	// HEAD is GET without the body: its answer is checked as GET's.
	req := ex.req.Clone(ctx)
	if req.Method == http.MethodHead {
		req.Method = http.MethodGet
	}
	req.Body = io.NopCloser(bytes.NewReader(ex.reqBody))
	route, params, err := router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrMethodNotAllowed):
		if ex.status != http.StatusMethodNotAllowed {
			fail("answered a method the path does not take")
			return "", errs
		}
		resp := doc.Components.Responses["MethodNotAllowed"].Value
		if err := checkAnswer(ctx, resp, ex); err != nil {
			fail("%v", err)
		}
		return "", errs
	case err != nil:
		if ex.status != http.StatusNotFound {
			fail("answered a path the description does not have")
		}
		return "", errs
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent, MultiError: true}}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	switch {
	case reqErr != nil && (ex.status < 400 || ex.status >= 500):
		fail("the server took a request the description refuses: %v", reqErr)
	case reqErr == nil && slices.Contains([]int{400, 413, 415}, ex.status):
		fail("the description allows a request the server refused: %s", ex.body)
	}
	resp := route.Operation.Responses.Status(ex.status)
	if resp == nil {
		fail("the status is not listed for %s %s: %s", route.Method, route.Path, ex.body)
		return route.Method + " " + route.Path, errs
	}
	if err := checkAnswer(ctx, resp.Value, ex); err != nil {
		fail("%v", err)
	}
	// kin-openapi checks the answer as a whole too: the status listed,
	// headers and a JSON body (a HEAD's as its GET's, without the body;
	// it reads no HTML, script or style sheet).
	req.Body = io.NopCloser(bytes.NewReader(ex.reqBody))
	skipBody := ex.req.Method == http.MethodHead || !strings.HasPrefix(ex.header.Get("Content-Type"), "application/json")
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: ex.status, Header: ex.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: skipBody}}
	out.SetBodyBytes(ex.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		fail("%v", err)
	}
	return route.Method + " " + route.Path, errs
}

// checkAnswer checks an answer against a described response: every
// header it requires is there and matches its schema, and a body is of
// a described media type and matches its schema (a HEAD's is empty).
// kin-openapi's ValidateResponse does this too, but not for 304s nor
// HEADs, nor for answers outside any operation (405).
func checkAnswer(ctx context.Context, resp *openapi3.Response, ex exchange) error {
	for name, h := range resp.Headers {
		v := ex.header.Get(name)
		if v == "" {
			if h.Value.Required {
				return errors.New("no " + name + " header")
			}
			continue
		}
		var val any = v
		if h.Value.Schema.Value.Type.Is(openapi3.TypeInteger) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errors.New(name + ": " + v + " is not an integer")
			}
			val = float64(n)
		}
		if err := h.Value.Schema.Value.VisitJSON(val); err != nil {
			return errors.New(name + ": " + err.Error())
		}
	}
	if ex.req.Method == http.MethodHead || ex.status == http.StatusNotModified {
		if len(ex.body) != 0 {
			return errors.New("a body")
		}
		return nil
	}
	if len(resp.Content) == 0 {
		return nil
	}
	mt := resp.Content.Get(ex.header.Get("Content-Type"))
	if mt == nil {
		return errors.New("Content-Type " + ex.header.Get("Content-Type") + " is not described")
	}
	if mt.Schema == nil || !mt.Schema.Value.Type.Is(openapi3.TypeObject) && mt.Schema.Value.AllOf == nil && mt.Schema.Value.OneOf == nil {
		return nil
	}
	var body any
	if err := json.Unmarshal(ex.body, &body); err != nil {
		return errors.New("not JSON: " + err.Error())
	}
	return mt.Schema.Value.VisitJSON(body, openapi3.VisitAsResponse(), openapi3.MultiErrors())
}

// TestOpenAPI drives every route through its successes and failures and
// checks each request and answer against openapi.yaml with kin-openapi
// (checkExchange), and that the routes served and the routes described
// are the same.
func TestOpenAPI(t *testing.T) {
	doc, router := loadOpenAPI(t)
	s := startSystem(t, func(c *Config) { c.UserRate, c.UserBurst = 1, 2 })
	s.seen = []exchange{}
	tour(s)

	exercised := map[string]bool{}
	for _, ex := range s.seen {
		op, errs := checkExchange(doc, router, ex)
		exercised[op] = true
		for _, err := range errs {
			t.Error(err)
		}
	}
	var described []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described = append(described, method+" "+path)
			if !exercised[method+" "+path] {
				t.Errorf("%s %s is described but the tour never called it", method, path)
			}
		}
	}
	// Every GET route answers HEAD too (see routes), as GET without the
	// body; the description lists the GETs.
	var served, heads []string
	for _, r := range s.gw.hz.Routes() {
		path := regexp.MustCompile(`:([a-z_]+)`).ReplaceAllString(r.Path, "{$1}")
		if r.Method == "HEAD" {
			heads = append(heads, path)
			continue
		}
		served = append(served, r.Method+" "+path)
	}
	for _, h := range heads {
		if !slices.Contains(served, "GET "+h) {
			t.Errorf("HEAD %s is served without GET", h)
		}
	}
	slices.Sort(served)
	slices.Sort(described)
	if !slices.Equal(served, described) {
		t.Errorf("routes served %v\nroutes described %v", served, described)
	}
}

// TestOpenAPIRejectsWrongAnswers shows that checkExchange fails answers
// that break the description, so that TestOpenAPI passing means
// something.
func TestOpenAPIRejectsWrongAnswers(t *testing.T) {
	doc, router := loadOpenAPI(t)
	good := `{"hold_id":"1","order_no":"2","program_id":"p","status":"HELD","seats":[],"from":0,"to":1,"total_cents":5,` +
		`"created_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:10:00Z"}`
	hold := func(method, path, body string, status int, header http.Header, answer string) exchange {
		req, _ := http.NewRequest(method, "http://gateway"+path, nil)
		req.Header.Set("Authorization", "Bearer x")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if header == nil {
			header = http.Header{"Content-Type": {"application/json; charset=utf-8"}}
		}
		return exchange{req: req, reqBody: []byte(body), reply: reply{status: status, header: header, body: []byte(answer)}}
	}
	get := func(answer string) exchange { return hold("GET", "/v1/holds/1", "", 200, nil, answer) }
	if _, errs := checkExchange(doc, router, get(good)); len(errs) != 0 {
		t.Fatalf("a good hold failed: %v", errs)
	}
	for name, ex := range map[string]exchange{
		"hold id as a number":       get(strings.Replace(good, `"hold_id":"1"`, `"hold_id":1`, 1)),
		"an extra field":            get(strings.Replace(good, `"from":0`, `"from":0,"secret":true`, 1)),
		"a missing field":           get(strings.Replace(good, `"total_cents":5,`, ``, 1)),
		"an unknown status":         get(strings.Replace(good, `"HELD"`, `"PENDING"`, 1)),
		"a bad time":                get(strings.Replace(good, `"2026-01-01T00:10:00Z"`, `"soon"`, 1)),
		"a to past 64":              get(strings.Replace(good, `"to":1`, `"to":65`, 1)),
		"a status not listed":       hold("GET", "/v1/holds/1", "", 409, nil, `{"error":{"code":"SEAT_TAKEN","message":"","details":{}}}`),
		"a code not listed":         hold("GET", "/v1/holds/1", "", 404, nil, `{"error":{"code":"SEAT_TAKEN","message":"","details":{}}}`),
		"a detail not described":    hold("GET", "/v1/holds/1", "", 404, nil, `{"error":{"code":"NOT_FOUND","message":"","details":{"why":1}}}`),
		"a 429 without Retry-After": hold("GET", "/v1/holds/1", "", 429, nil, `{"error":{"code":"RATE_LIMITED","message":"","details":{}}}`),
		"a 405 without Allow":       hold("PUT", "/v1/holds/1", "", 405, nil, `{"error":{"code":"METHOD_NOT_ALLOWED","message":"","details":{}}}`),
		"a 304 without an ETag":     hold("GET", "/v1/programs/p/seats", "", 304, http.Header{"Cache-Control": {"no-cache"}}, ""),
		"a refused request taken":   hold("POST", "/v1/programs/p/holds", `{"count":0}`, 201, nil, good),
		"an allowed request refused as malformed": hold("POST", "/v1/programs/p/holds", `{"count":1}`, 400, nil,
			`{"error":{"code":"INVALID_JSON","message":"","details":{}}}`),
	} {
		if _, errs := checkExchange(doc, router, ex); len(errs) == 0 {
			t.Errorf("%s passed", name)
		}
	}
}

// tour calls every route, for successes and for the usual failures.
func tour(s *testSystem) {
	s.arena("show")
	grid := `{"id":"t2","categories":[{"id":"a","name":"A","price_cents":100}],"grid":{"sections":1,"rows":1,"cols":4,"categories":[{"id":"a","rows":[1,1]}]}}`
	s.do("POST", "/v1/programs", adminToken, grid, nil)
	s.do("POST", "/v1/programs", adminToken, `{"id":"t2"`, nil)
	s.do("POST", "/v1/programs", "", grid, nil)
	s.do("POST", "/v1/programs", s.token(1), grid, nil)
	s.do("POST", "/v1/programs", adminToken, strings.Replace(grid, `"A"`, `"B"`, 1), nil)
	s.do("POST", "/v1/programs", adminToken, `{"id":"t3","categories":[]}`, nil)
	s.do("POST", "/v1/programs", adminToken, strings.Replace(grid, `"id":"t2"`, `"id":"t4","name":null`, 1), nil)
	s.do("POST", "/v1/programs", adminToken, strings.Replace(grid, `"id":"t2"`, `"ID":"t4"`, 1), nil)
	s.do("POST", "/v1/programs", adminToken, grid, map[string]string{"Content-Type": "text/plain"})
	s.do("POST", "/v1/programs", adminToken, strings.Repeat(" ", 16<<20+1), nil)
	s.do("GET", "/v1/programs", "", nil, nil)
	s.do("GET", "/v1/programs?limit=1", "", nil, nil)
	s.do("GET", "/v1/programs?limit=1&cursor=show", "", nil, nil)
	s.do("GET", "/v1/programs?limit=0", "", nil, nil)
	s.do("GET", "/v1/programs/show", "", nil, nil)
	s.do("HEAD", "/v1/programs/show", "", nil, nil)
	s.do("GET", "/v1/programs/none", "", nil, nil)
	s.do("GET", "/v1/programs/a%2Fholds", "", nil, nil)
	s.do("PUT", "/v1/programs/show", "", nil, nil)
	for _, verb := range []string{"open", "close"} {
		s.do("POST", "/v1/programs/t2/"+verb, adminToken, nil, nil)
		s.do("POST", "/v1/programs/none/"+verb, adminToken, nil, nil)
		s.do("POST", "/v1/programs/t2/"+verb, "", nil, nil)
		s.do("POST", "/v1/programs/t2/"+verb, s.token(1), nil, nil)
	}
	s.do("POST", "/v1/programs/show/blocks", adminToken, `{"seats":["A/3/10"]}`, nil)
	s.do("POST", "/v1/programs/show/blocks", adminToken, `{"seats":["A/3/9"],"unblock":true}`, nil)
	s.do("POST", "/v1/programs/show/blocks", adminToken, `{"seats":["Z/1/1"]}`, nil)
	s.do("POST", "/v1/programs/show/blocks", adminToken, `{"seats":[]}`, nil)
	s.do("POST", "/v1/programs/show/blocks", adminToken, `{"seats":"A/1/1"}`, nil)
	s.do("POST", "/v1/programs/show/blocks", adminToken, `{"seats":["A/1/1"]}`, map[string]string{"Content-Type": ""})
	s.do("POST", "/v1/programs/show/blocks", adminToken, strings.Repeat(" ", 70<<10), nil)
	s.do("POST", "/v1/programs/none/blocks", adminToken, `{"seats":["A/1/1"]}`, nil)
	s.do("POST", "/v1/programs/show/blocks", "", `{"seats":["A/1/1"]}`, nil)
	s.do("POST", "/v1/programs/show/blocks", s.token(1), `{"seats":["A/1/1"]}`, nil)
	for _, what := range []string{"availability", "seats"} {
		r := s.do("GET", "/v1/programs/show/"+what, "", nil, nil)
		s.do("GET", "/v1/programs/show/"+what, "", nil, map[string]string{"If-None-Match": r.header.Get("ETag")})
		s.do("GET", "/v1/programs/show/"+what, "", nil, map[string]string{"If-Match": r.header.Get("ETag")})
		s.do("GET", "/v1/programs/show/"+what, "", nil, map[string]string{"If-Match": `"nope"`})
		s.do("HEAD", "/v1/programs/show/"+what, "", nil, map[string]string{"If-Match": `W/` + r.header.Get("ETag")})
		s.do("HEAD", "/v1/programs/show/"+what, "", nil, nil)
		s.do("GET", "/v1/programs/show/"+what+"?consistent=true", "", nil, nil)
		s.do("GET", "/v1/programs/show/"+what+"?from=2", "", nil, nil)
		s.do("GET", "/v1/programs/show/"+what+"?to=0", "", nil, nil)
		s.do("GET", "/v1/programs/show/"+what+"?from=", "", nil, nil)
		s.do("GET", "/v1/programs/show/"+what+"?consistent=yes", "", nil, nil)
		s.do("GET", "/v1/programs/none/"+what, "", nil, nil)
	}
	s.do("GET", "/v1/programs/show/seats?format=compact&category=vip", "", nil, nil)
	s.do("GET", "/v1/programs/show/seats?section=A&format=full", "", nil, nil)
	s.do("GET", "/v1/programs/show/seats?section=Z", "", nil, nil)
	s.do("GET", "/v1/programs/show/seats?category=", "", nil, nil)
	s.do("GET", "/v1/programs/show/seats?category=none", "", nil, nil)
	buyer, other := s.token(7), s.token(8)
	h := s.do("POST", "/v1/programs/show/holds", buyer, `{"count":2}`, map[string]string{"Idempotency-Key": "k1"})
	s.do("POST", "/v1/programs/show/holds", buyer, `{"seats":["A/3/10"]}`, nil)
	s.do("POST", "/v1/programs/show/holds", other, `{"count":0}`, nil)
	s.do("POST", "/v1/programs/show/holds", other, `{"count":`, nil)
	s.do("POST", "/v1/programs/show/holds", other, `{"count":1}`, map[string]string{"Content-Type": "text/plain"})
	s.do("POST", "/v1/programs/show/holds", other, strings.Repeat(" ", 70<<10), nil)
	s.do("POST", "/v1/programs/show/holds", "", `{"count":1}`, nil)
	s.do("POST", "/v1/programs/none/holds", s.token(9), `{"count":1}`, nil)
	for range 3 {
		s.do("POST", "/v1/programs/show/holds", s.token(10), `{"count":1}`, nil)
	}
	id := h.json(s.t)["hold_id"].(string)
	s.do("GET", "/v1/holds/"+id, s.token(7), nil, nil)
	s.do("GET", "/v1/holds/"+id, s.token(11), nil, nil)
	s.do("GET", "/v1/holds/"+id, "", nil, nil)
	for range 3 {
		s.do("GET", "/v1/holds/"+id, s.token(12), nil, nil)
	}
	time.Sleep(time.Second) // buyer 7's budget comes back
	s.do("DELETE", "/v1/holds/"+id, s.token(7), nil, nil)
	time.Sleep(time.Second)
	s.do("DELETE", "/v1/holds/"+id, s.token(7), nil, nil) // released already: ok again
	time.Sleep(time.Second)
	s.do("POST", "/v1/programs/show/holds", buyer, `{"count":2}`, map[string]string{"Idempotency-Key": "k1"}) // its state now: 200
	s.do("DELETE", "/v1/holds/"+id, "", nil, nil)
	s.do("DELETE", "/v1/holds/"+id, s.token(13), nil, nil)
	for range 3 {
		s.do("DELETE", "/v1/holds/1", s.token(14), nil, nil)
	}
	s.do("GET", "/v1/cluster", adminToken, nil, nil)
	s.do("GET", "/v1/cluster", "", nil, nil)
	s.do("GET", "/v1/cluster", s.token(1), nil, nil)
	for i, r := range [][2]string{{"GET", "/v1/orders/1"}, {"GET", "/v1/orders"}, {"POST", "/v1/orders/1/pay"}, {"GET", "/v1/orders/1/payment"},
		{"POST", "/v1/payments/alipay/notify"}, {"POST", "/v1/payments/wechat/notify"}, {"POST", "/v1/orders/1/refunds"}, {"GET", "/v1/refunds/1"}} {
		s.do(r[0], r[1], "", nil, nil)
		s.do(r[0], r[1], s.token(int64(20+i)), nil, nil)
	}
	s.do("GET", "/v1/holds/"+id, adminToken, nil, nil)
	s.do("POST", "/v1/dev/tokens", "", `{"user_id":"5"}`, nil)
	s.do("POST", "/v1/dev/tokens", "", `{"sub":"auth0|5"}`, nil)
	s.do("POST", "/v1/dev/tokens", "", `{"user_id":5}`, nil)
	s.do("POST", "/v1/dev/tokens", "", `{"sub":"a","user_id":"b"}`, nil)
	s.do("POST", "/v1/dev/tokens", "", `{"sub":"\ud800"}`, nil)
	s.do("POST", "/v1/dev/tokens", "", `{"sub":"a"}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml", "/", "/seatmap.js", "/seatmap.css"} {
		s.do("GET", p, "", nil, nil)
	}
}

// TestRequestRangesMatchOpenAPI holds the request types to the
// description: every field the decoder takes is described and every
// field described is taken, and each integer's range tag, which the
// decoder names for a number past 64 bits, is the range openapi.yaml
// gives it (its minimum and maximum, the alternatives of an anyOf, or
// the bounds of its format).
func TestRequestRangesMatchOpenAPI(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	for schema, v := range map[string]any{"HoldRequest": holdIn{}, "BlockRequest": blockIn{}, "ProgramCreate": programIn{}, "PayRequest": payIn{}} {
		checkRanges(t, schema, reflect.TypeOf(v), "", doc.Components.Schemas[schema].Value)
	}
}

func checkRanges(t *testing.T, path string, typ reflect.Type, tag string, s *openapi3.Schema) {
	t.Helper()
	typ = deref(typ)
	switch {
	case s.Type.Is(openapi3.TypeObject):
		names := map[string]bool{}
		for _, name := range jsonNames(typ) {
			names[name] = true
			if s.Properties[name] == nil {
				t.Errorf("%s.%s is decoded but not described", path, name)
			}
		}
		for name, prop := range s.Properties {
			f, ok := jsonField(typ, name)
			if !ok {
				t.Errorf("%s.%s is described but not decoded", path, name)
				continue
			}
			checkRanges(t, path+"."+name, f.Type, f.Tag.Get("range"), prop.Value)
		}
	case s.Type.Is(openapi3.TypeArray):
		checkRanges(t, path+"[]", typ.Elem(), tag, s.Items.Value)
	case s.Type.Is(openapi3.TypeInteger):
		bound := func(v *float64, def int64) int64 {
			if v == nil {
				return def
			}
			return int64(*v)
		}
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if s.Format == "int32" {
			lo, hi = math.MinInt32, math.MaxInt32
		}
		var want []intRange
		for _, alt := range s.AnyOf {
			want = append(want, intRange{bound(alt.Value.Min, lo), bound(alt.Value.Max, hi)})
		}
		if len(want) == 0 {
			want = []intRange{{bound(s.Min, lo), bound(s.Max, hi)}}
		}
		if got := parseRanges(tag); !slices.Equal(got, want) {
			t.Errorf("%s: range tag %q is %v; openapi.yaml says %v", path, tag, got, want)
		}
	}
}
