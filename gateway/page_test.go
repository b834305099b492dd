package gateway

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"seatd/internal/browsertest"
)

// TestSeatMapPage loads the live seat map in headless Chromium, signs in
// with a dev token, holds two seats by clicking them, and sees them turn
// held; the inventory agrees, the order panel says that this gateway
// (without an order service) takes no payments, and a screenshot is kept.
func TestSeatMapPage(t *testing.T) {
	ctx := browsertest.Browse(t, time.Minute)
	s := startSystem(t)
	s.arena("show")

	err := chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/?program=show"),
		chromedp.WaitVisible(chromedp.CSS(`button[data-seat="A/2/1"]`)),
		chromedp.Click(chromedp.CSS(`#devtoken`)),
		chromedp.WaitVisible(chromedp.Search(`//div[@id="status"][contains(., "signed in")]`)),
		browsertest.ClickSeat("A/2/1"),
		browsertest.ClickSeat("A/2/2"),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		browsertest.WaitSeat("A/2/1", "held"),
		browsertest.WaitSeat("A/2/2", "held"),
	)
	status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#status`)))
	if err != nil {
		t.Fatalf("page: %v (status %q)", err, status)
	}
	seat1, err1 := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`button[data-seat="A/2/1"]`), "class"))
	seat3, err2 := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`button[data-seat="A/2/3"]`), "class"))
	if err1 != nil || err2 != nil {
		t.Fatalf("reading the page: %v %v", err1, err2)
	}
	if !strings.Contains(status, "A/2/1 A/2/2") || seat1.Value != "seat cat1 held" || seat3.Value != "seat cat1 free" {
		t.Fatalf("after holding A/2/1 and A/2/2: status %q, A/2/1 %q, A/2/3 %q", status, seat1.Value, seat3.Value)
	}
	// This gateway has no order service: the order panel says the hold
	// cannot be paid here, and the status line keeps the hold.
	err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(`//p[@id="orderError"][contains(., "keeps no orders")]`), chromedp.RetryInterval(100*time.Millisecond)))
	if after, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#status`))); err != nil || after != status {
		t.Errorf("without an order service: %v; status %q, was %q", err, after, status)
	}
	browsertest.Screenshot(t, ctx, browsertest.ArtefactDir(t), "seatmap")
	sm := s.do("GET", "/v1/programs/show/seats?category=std", "", nil, nil)
	for _, id := range []string{"A/2/1", "A/2/2"} {
		if !strings.Contains(string(sm.body), `"id":"`+id+`","section":"A","row":"2","col":`) ||
			!strings.Contains(string(sm.body), `"id":"`+id+`","section":"A","row":"2","col":`+id[4:]+`,"label":"`+id[4:]+`","category":"std","status":"held"`) {
			t.Fatalf("seat %s is not held in the inventory: %s", id, sm.body)
		}
	}
}

// TestSeatMapPageShowsHostileNamesAsText gives every name, id and label
// the page shows a piece of markup that would run script if it were
// inserted as HTML, in each place the engine accepts one, and checks
// that nothing ran, that the page holds no element the data made, that
// every string shows as text, and that the browser got the page and its
// assets under the Content-Security-Policy.
func TestSeatMapPageShowsHostileNamesAsText(t *testing.T) {
	ctx := browsertest.Browse(t, time.Minute)
	s := startSystem(t)
	// Each payload sets window.pwned if it ever runs. Program and category
	// ids allow only [A-Za-z0-9._-]; section and row ids take anything but
	// "/" and control characters; names, labels and stops take anything.
	const (
		programName  = `<script>window.pwned="program name"</script><b>bold</b>`
		stop0        = `<svg onload=window.pwned="stop">`
		stop1        = `javascript:window.pwned="stop"`
		stop2        = `<style>*{display:none}</style>`
		catName      = `<img src=x onerror=window.pwned="category">`
		catEntity    = `&lt;b&gt;entity&amp;`
		namedSection = `<img src=x onerror=window.pwned="section id">`
		sectionName  = `</h3><script>window.pwned="section name"</script>`
		bareSection  = `"><svg onload=window.pwned="section">`
		rowA         = `<iframe srcdoc=x onload=window.pwned="row">`
		rowB         = `' onmouseover='window.pwned="row"`
		label        = `<img src=x onerror=window.pwned="label">`
		badProgram   = `<img src=x onerror=window.pwned="program id">`
	)
	seats := []map[string]any{{"col": 1, "label": label, "category": "c1"}, {"col": 2, "label": "<b>2</b>", "category": "c2"}, {"col": 3, "category": "c1"}}
	r := s.do("POST", "/v1/programs", adminToken, map[string]any{
		"id": "hostile", "name": programName, "stops": []string{stop0, stop1, stop2},
		"categories": []map[string]any{{"id": "c1", "name": catName, "price_cents": 100}, {"id": "c2", "name": catEntity, "price_cents": 200}},
		"layout": map[string]any{"sections": []map[string]any{
			{"id": namedSection, "name": sectionName, "rows": []map[string]any{{"id": rowA, "rank": 1, "seats": seats}}},
			{"id": bareSection, "rows": []map[string]any{{"id": rowB, "rank": 2, "seats": seats}}},
		}},
	}, nil)
	s.want(r, http.StatusCreated, "")
	s.want(s.do("POST", "/v1/programs/hostile/open", adminToken, nil, nil), http.StatusOK, "")

	var mu sync.Mutex
	headers := map[network.ResourceType]network.Headers{} // by kind: the document, its script, its style
	var complaints []string                               // exceptions, and the browser refusing what the page does
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventResponseReceived:
			if strings.HasPrefix(ev.Response.URL, s.url) {
				headers[ev.Type] = ev.Response.Headers
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			if d.Exception != nil {
				d.Text += " " + d.Exception.Description
			}
			complaints = append(complaints, d.Text)
		case *log.EventEntryAdded:
			if ev.Entry.Source == log.EntrySourceSecurity || ev.Entry.Source == log.EntrySourceViolation {
				complaints = append(complaints, ev.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { // also after a t.Fatal, which often follows from what the browser refused
		mu.Lock()
		defer mu.Unlock()
		if len(complaints) > 0 {
			t.Errorf("the browser complained: %q", complaints)
		}
	}()
	// nothingRan checks that no payload ran and no element came from data:
	// the page's own elements carry no event handler attributes, and it
	// has no img, svg, iframe, b or style, and one script, its own.
	nothingRan := func(when string) {
		t.Helper()
		report, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
			pwned: window.pwned === undefined ? null : String(window.pwned),
			title: document.title,
			made: [...document.querySelectorAll("img, svg, iframe, b, style, script")].map(e => e.outerHTML).filter(h => h !== '<script src="/seatmap.js" defer=""></script>'),
			handlers: [...document.querySelectorAll("*")].flatMap(e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith("on")),
		})`))
		if err != nil {
			t.Fatalf("%s: reading the page: %v", when, err)
		}
		if want := `{"pwned":null,"title":"seatd live seat map","made":[],"handlers":[]}`; report != want {
			t.Errorf("%s: %s; want %s", when, report, want)
		}
	}

	// A hostile program id in the page's own address comes back in the
	// error message, as text.
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/?program="+url.QueryEscape(badProgram)),
		chromedp.WaitVisible(chromedp.Search(`//div[@id="status"][contains(., "NOT_FOUND")]`)))
	status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#status`)))
	if err != nil {
		t.Fatalf("page of an unknown program: %v", err)
	}
	if !strings.Contains(status, badProgram) {
		t.Errorf("status %q; want the program id %q as text", status, badProgram)
	}
	nothingRan("an unknown program")

	// The hostile program: every string shows as text, and a seat with a
	// hostile section and row can be held.
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/?program=hostile"),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("button.seat").length === 6`, chromedp.WithPollingTimeout(10*time.Second)))
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	for _, want := range []string{programName, stop0, stop1, stop2, catName + " 1.00", catEntity + " 2.00", sectionName, "Section " + bareSection, rowA, rowB, label, "<b>2</b>"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q as text; it shows:\n%s", want, text)
		}
	}
	nothingRan("the hostile program")

	held := namedSection + "/" + rowA + "/1"
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#devtoken`)),
		chromedp.WaitVisible(chromedp.Search(`//div[@id="status"][contains(., "signed in")]`)),
		browsertest.ClickSeat(held),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		browsertest.WaitSeat(held, "held"))
	status, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#status`)))
	if err != nil {
		t.Fatalf("holding %q: %v (status %q)", held, err, status)
	}
	if !strings.Contains(status, held) {
		t.Errorf("status %q; want the held seat %q as text", status, held)
	}
	nothingRan("after a hold")

	mu.Lock()
	defer mu.Unlock()
	for _, kind := range []network.ResourceType{network.ResourceTypeDocument, network.ResourceTypeScript, network.ResourceTypeStylesheet} {
		h, ok := headers[kind]
		if !ok {
			t.Errorf("the page loaded no %s from the gateway", kind)
			continue
		}
		if got := header(h, "Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("%s: Content-Security-Policy %q; want %q", kind, got, contentSecurityPolicy)
		}
	}
}

// header reads a header the browser reported, whatever its case.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// TestSecurityHeaders checks, without a browser, that every kind of
// answer carries the security headers: the page, each file it loads,
// JSON, errors, plain text. The page's files must also have their content
// types: under nosniff a browser runs a script or applies a style sheet
// only if its type says it is one.
func TestSecurityHeaders(t *testing.T) {
	s := startSystem(t)
	s.arena("show")
	type answer struct {
		path   string
		status int
		typ    string // "": not checked
	}
	answers := []answer{{"/", http.StatusOK, "text/html; charset=utf-8"}}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	page := s.do("GET", "/", "", nil, nil)
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(string(page.body), -1) {
		typ, ok := types[filepath.Ext(m[1])]
		if !ok {
			t.Errorf("the page loads %q, of a kind this test does not know", m[1])
		}
		answers = append(answers, answer{m[1], http.StatusOK, typ})
	}
	if len(answers) != 3 {
		t.Errorf("the page loads %v; want its script and its style", answers[1:])
	}
	answers = append(answers, answer{"/v1/programs/show", http.StatusOK, "application/json; charset=utf-8"},
		answer{"/v1/programs/none", http.StatusNotFound, "application/json; charset=utf-8"},
		answer{"/nowhere", http.StatusNotFound, "application/json; charset=utf-8"},
		answer{"/healthz", http.StatusOK, ""}, answer{"/metrics", http.StatusOK, ""})
	want := map[string]string{"Content-Security-Policy": contentSecurityPolicy, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
	for _, a := range answers {
		r := s.do("GET", a.path, "", nil, nil)
		if r.status != a.status {
			t.Errorf("GET %s = %d; want %d", a.path, r.status, a.status)
		}
		if got := r.header.Get("Content-Type"); a.typ != "" && got != a.typ {
			t.Errorf("GET %s: Content-Type %q; want %q", a.path, got, a.typ)
		}
		for name, v := range want {
			if got := r.header.Get(name); got != v {
				t.Errorf("GET %s: %s %q; want %q", a.path, name, got, v)
			}
		}
	}
}
