package gateway

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOpenAPI drives every route through its successes and failures and
// checks each real answer against openapi.yaml: the path and method are
// described, the status is listed, and a JSON body matches its schema,
// with no field the schema does not name. It also checks that the routes
// served and the routes described are the same.
func TestOpenAPI(t *testing.T) {
	var spec map[string]any
	if err := json.Unmarshal(openAPISpec, &spec); err != nil {
		t.Fatalf("openapi.yaml (JSON syntax) does not parse: %v", err)
	}
	s := startSystem(t, func(c *Config) { c.UserRate, c.UserBurst = 1, 2 })
	s.seen = []exchange{}
	tour(s)

	paths := spec["paths"].(map[string]any)
	type route struct {
		re     *regexp.Regexp
		method string
	}
	described := map[route]string{}
	var templates []string
	for tmpl, item := range paths {
		re := regexp.MustCompile("^" + regexp.MustCompile(`\{[a-z_]+\}`).ReplaceAllString(tmpl, `[^/]+`) + "$")
		for method := range item.(map[string]any) {
			described[route{re, strings.ToUpper(method)}] = tmpl
			templates = append(templates, strings.ToUpper(method)+" "+tmpl)
		}
	}
	exercised := map[string]bool{}
	for _, ex := range s.seen {
		var tmpl string
		for r, tp := range described {
			if r.method == ex.method && r.re.MatchString(ex.path) {
				tmpl = tp
			}
		}
		if tmpl == "" {
			t.Errorf("%s %s answered %d but is not described", ex.method, ex.path, ex.status)
			continue
		}
		exercised[ex.method+" "+tmpl] = true
		op := paths[tmpl].(map[string]any)[strings.ToLower(ex.method)].(map[string]any)
		resp, ok := op["responses"].(map[string]any)[strconv.Itoa(ex.status)].(map[string]any)
		if !ok {
			t.Errorf("%s %s answered %d, which the description does not list: %s", ex.method, ex.path, ex.status, ex.body)
			continue
		}
		resp = resolve(spec, resp)
		content, _ := resp["content"].(map[string]any)
		js, ok := content["application/json"].(map[string]any)
		if !ok {
			continue
		}
		var body any
		if err := json.Unmarshal(ex.body, &body); err != nil {
			t.Errorf("%s %s %d: not JSON: %v", ex.method, ex.path, ex.status, err)
			continue
		}
		if err := validate(spec, js["schema"].(map[string]any), body, "body"); err != nil {
			t.Errorf("%s %s %d: %v\n%s", ex.method, ex.path, ex.status, err, ex.body)
		}
	}
	for _, tp := range templates {
		if !exercised[tp] {
			t.Errorf("%s is described but the tour never called it", tp)
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
	slices.Sort(templates)
	if !slices.Equal(served, templates) {
		t.Errorf("routes served %v\nroutes described %v", served, templates)
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
	s.do("POST", "/v1/programs", adminToken, strings.Repeat(" ", 16<<20+1), nil)
	s.do("GET", "/v1/programs/show", "", nil, nil)
	s.do("GET", "/v1/programs/none", "", nil, nil)
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
	s.do("POST", "/v1/programs/show/blocks", adminToken, strings.Repeat(" ", 70<<10), nil)
	s.do("POST", "/v1/programs/none/blocks", adminToken, `{"seats":["A/1/1"]}`, nil)
	s.do("POST", "/v1/programs/show/blocks", "", `{"seats":["A/1/1"]}`, nil)
	s.do("POST", "/v1/programs/show/blocks", s.token(1), `{"seats":["A/1/1"]}`, nil)
	for _, what := range []string{"availability", "seats"} {
		r := s.do("GET", "/v1/programs/show/"+what, "", nil, nil)
		s.do("GET", "/v1/programs/show/"+what, "", nil, map[string]string{"If-None-Match": r.header.Get("ETag")})
		s.do("GET", "/v1/programs/show/"+what+"?consistent=true", "", nil, nil)
		s.do("GET", "/v1/programs/show/"+what+"?from=2", "", nil, nil)
		s.do("GET", "/v1/programs/show/"+what+"?consistent=yes", "", nil, nil)
		s.do("GET", "/v1/programs/none/"+what, "", nil, nil)
	}
	s.do("GET", "/v1/programs/show/seats?format=compact&category=vip", "", nil, nil)
	s.do("GET", "/v1/programs/show/seats?section=A&format=full", "", nil, nil)
	s.do("GET", "/v1/programs/show/seats?section=Z", "", nil, nil)
	buyer, other := s.token(7), s.token(8)
	h := s.do("POST", "/v1/programs/show/holds", buyer, `{"count":2}`, nil)
	s.do("POST", "/v1/programs/show/holds", buyer, `{"seats":["A/3/10"]}`, nil)
	s.do("POST", "/v1/programs/show/holds", other, `{"count":0}`, nil)
	s.do("POST", "/v1/programs/show/holds", other, `{"count":`, nil)
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
	s.do("POST", "/v1/dev/tokens", "", `{"user_id":"x"}`, nil)
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml", "/", "/seatmap.js", "/seatmap.css"} {
		s.do("GET", p, "", nil, nil)
	}
}

// resolve follows a $ref within the spec.
func resolve(spec, node map[string]any) map[string]any {
	for {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		node = spec
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			node = node[part].(map[string]any)
		}
	}
}

// validate checks v against the subset of JSON Schema the spec uses:
// $ref, oneOf, type, properties, required, additionalProperties: false,
// items, enum and format date-time.
func validate(spec, schema map[string]any, v any, at string) error {
	schema = resolve(spec, schema)
	if one, ok := schema["oneOf"].([]any); ok {
		var errs []string
		for _, sub := range one {
			if err := validate(spec, sub.(map[string]any), v, at); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(one)-len(errs) != 1 {
			return fmt.Errorf("%s: matches %d of the oneOf schemas, want 1 (%s)", at, len(one)-len(errs), strings.Join(errs, "; "))
		}
		return nil
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %T", at, v)
		}
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asSlice(schema["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: lacks %q", at, r)
			}
		}
		for k, val := range obj {
			p, ok := props[k].(map[string]any)
			if !ok {
				if schema["additionalProperties"] == false {
					return fmt.Errorf("%s: field %q is not described", at, k)
				}
				continue
			}
			if err := validate(spec, p, val, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %T", at, v)
		}
		if items, ok := schema["items"].(map[string]any); ok {
			for i, e := range arr {
				if err := validate(spec, items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a string, got %T", at, v)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				return fmt.Errorf("%s: %q is not RFC 3339", at, str)
			}
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: want an integer, got %v", at, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, got %T", at, v)
		}
	}
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestValidatorRejects shows the contract check fails on wrong answers.
func TestValidatorRejects(t *testing.T) {
	var spec map[string]any
	json.Unmarshal(openAPISpec, &spec)
	hold := map[string]any{"$ref": "#/components/schemas/Hold"}
	good := `{"hold_id":"1","order_no":"2","program_id":"p","status":"HELD","seats":[],"from":0,"to":1,"total_cents":5,"created_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:10:00Z"}`
	for name, body := range map[string]string{
		"hold id as a number": strings.Replace(good, `"hold_id":"1"`, `"hold_id":1`, 1),
		"an extra field":      strings.Replace(good, `"from":0`, `"from":0,"secret":true`, 1),
		"a missing field":     strings.Replace(good, `"total_cents":5,`, ``, 1),
		"an unknown status":   strings.Replace(good, `"HELD"`, `"PENDING"`, 1),
		"a bad time":          strings.Replace(good, `"2026-01-01T00:10:00Z"`, `"soon"`, 1),
	} {
		var v any
		json.Unmarshal([]byte(body), &v)
		if validate(spec, hold, v, "body") == nil {
			t.Errorf("a hold with %s passed", name)
		}
	}
	var v any
	json.Unmarshal([]byte(good), &v)
	if err := validate(spec, hold, v, "body"); err != nil {
		t.Errorf("a good hold failed: %v", err)
	}
}
