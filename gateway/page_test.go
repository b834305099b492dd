package gateway

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"seatd/internal/browsertest"
	"seatd/inventory"
)

// TestSeatMapPage loads the live seat map in headless Chromium, signs in
// with a test buyer's dev token, holds two seats by clicking them, and
// sees them turn held; the inventory agrees. The hold shows under "My
// holds and orders" with its countdown, and the page says that this
// gateway (without an order service) takes no payments. Giving the seats
// back, on a phone's screen, frees them on the page and in the inventory. Screenshots of the
// hold at both screen sizes are kept.
func TestSeatMapPage(t *testing.T) {
	ctx := browsertest.Browse(t, time.Minute)
	s := startSystem(t)
	s.arena("show")

	err := chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/?program=show"),
		browsertest.WaitSeat("A/2/1", "free"),
		chromedp.Click(chromedp.CSS(`#devtoken`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="status"][contains(., "Signed in")]`)),
		browsertest.ClickSeat("A/2/1"),
		browsertest.ClickSeat("A/2/2"),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		browsertest.WaitSeat("A/2/1", "held"),
		browsertest.WaitSeat("A/2/2", "held"),
		chromedp.WaitVisible(chromedp.Search(`//li[@class="order"]//p[@class="countdown"][starts-with(., "Pay within ")]`)),
	)
	status := pageText(t, ctx, "#status")
	if err != nil {
		t.Fatalf("page: %v (status %q)", err, status)
	}
	if want := "Held for you: Section A, row 2, seat 1 (aisle); Section A, row 2, seat 2. Total 400.00"; !strings.HasPrefix(status, want) {
		t.Errorf("after holding A/2/1 and A/2/2 the page says %q; want %q...", status, want)
	}
	if seats := pageText(t, ctx, "#orders .seats"); seats != "Section A, row 2, seat 1 (aisle), 200.00 Section A, row 2, seat 2, 200.00 " {
		t.Errorf("my holds list %q; want both seats with their prices", seats)
	}
	// This gateway has no order service: the page says the hold cannot
	// be paid here, and offers no Pay button.
	err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(`//p[@id="orderError"][contains(., "keeps no orders")]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#orders button.pay`)))
	if err != nil {
		t.Errorf("without an order service: %v", err)
	}
	browsertest.Screenshots(t, ctx, browsertest.ArtefactDir(t), "held")
	for _, id := range []string{"A/2/1", "A/2/2"} {
		if got := seatStatus(t, s, "show", id); got != "held" {
			t.Errorf("the inventory has %s %s; want held", id, got)
		}
	}

	// On a phone's screen.
	err = chromedp.Do(ctx,
		browsertest.Emulate(browsertest.Screens[1]),
		chromedp.Click(chromedp.CSS(`#orders button.release`)),
		browsertest.WaitSeat("A/2/1", "free"),
		browsertest.WaitSeat("A/2/2", "free"),
		chromedp.WaitNotPresent(chromedp.CSS(`#orders li.order`)),
	)
	if err != nil {
		t.Fatalf("giving the seats back: %v (status %q)", err, pageText(t, ctx, "#status"))
	}
	if status := pageText(t, ctx, "#status"); !strings.HasPrefix(status, "The seats are given back") {
		t.Errorf("after giving the seats back the page says %q", status)
	}
	for _, id := range []string{"A/2/1", "A/2/2"} {
		if got := seatStatus(t, s, "show", id); got != "free" {
			t.Errorf("after giving it back, the inventory has %s %s; want free", id, got)
		}
	}
}

// seatStatus is a seat's status as the gateway's full seat map, read
// through the leader, says.
func seatStatus(t *testing.T, s *testSystem, program, id string) string {
	t.Helper()
	r := s.do("GET", "/v1/programs/"+program+"/seats?consistent=true", "", nil, nil)
	s.want(r, http.StatusOK, "")
	for _, seat := range r.json(t)["seats"].([]any) {
		if m := seat.(map[string]any); m["id"] == id {
			return m["status"].(string)
		}
	}
	t.Fatalf("seat %s is not in the seat map of %s", id, program)
	return ""
}

// pageText is the text content of the first element sel finds.
func pageText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return text
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
		chromedp.WaitVisible(chromedp.Search(`//p[@id="status"][@data-code="NOT_FOUND"]`)))
	status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#status`)))
	if err != nil {
		t.Fatalf("page of an unknown program: %v", err)
	}
	if want := "There is no show or train called “" + badProgram + "”."; status != want {
		t.Errorf("status %q; want %q, the program id as text", status, want)
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
	for _, want := range []string{programName, stop0, stop1, stop2, catName + " 1.00", catEntity + " 2.00", sectionName, "Carriage " + bareSection, rowA, rowB, label, "<b>2</b>"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q as text; it shows:\n%s", want, text)
		}
	}
	nothingRan("the hostile program")

	held := namedSection + "/" + rowA + "/1"
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#devtoken`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="status"][contains(., "Signed in")]`)),
		browsertest.WaitSeat(held, "free"),
		browsertest.ClickSeat(held),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		browsertest.WaitSeat(held, "held"))
	status, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#status`)))
	if err != nil {
		t.Fatalf("holding %q: %v (status %q)", held, err, status)
	}
	if want := "Held for you: " + sectionName + ", row " + rowA + ", seat " + label + " (window)."; !strings.HasPrefix(status, want) { // three stops: a train
		t.Errorf("status %q; want %q..., the held seat as text", status, want)
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

// TestPageProgramPickerAndTrain switches the page between a concert and
// a train with the program picker, and between the train's leg ranges:
// the train shows its stations by name and its carriages by number, and
// nothing of a program or range no longer chosen reaches the page, even
// when its answers come late; a seat is held from an intermediate
// station with its traveller named. Screenshots of the train at both screen
// sizes are kept; at the phone's, the page is no wider than the screen.
func TestPageProgramPickerAndTrain(t *testing.T) {
	ctx := browsertest.Browse(t, 2*time.Minute)
	s := startSystem(t)
	s.arena("show")
	train, err := inventory.Train{Carriages: 2, Rows: 3, Categories: []inventory.GridCategory{{ID: "first", First: 1, Last: 1}, {ID: "second", First: 2, Last: 2}}}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	s.open(map[string]any{"id": "g1", "name": "G1 Beijing - Shanghai", "stops": []string{"Beijing", "Jinan", "Nanjing", "Shanghai"},
		"real_name": true, "max_seats_per_hold": 4, "max_seats_per_user": 8, "layout": LayoutJSON(train),
		"categories": []map[string]any{{"id": "first", "name": "First class", "price_cents": 93000}, {"id": "second", "name": "Second class", "price_cents": 55300}}})
	// Another buyer has seat 01A of carriage 1 from Beijing to Jinan only.
	s.want(s.do("POST", "/v1/programs/g1/holds", s.token(77), map[string]any{"seats": []string{"1/1/1"}, "from": 0, "to": 1,
		"holders": []map[string]any{{"name": "Li Lei", "id_number": "110101199001011237"}}}, nil), http.StatusCreated, "")

	// delay makes the page's requests whose address contains part answer
	// 1.5 s late, and afresh (no If-None-Match): an answer for what the
	// buyer has left by then must be dropped.
	delay := func(part string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`(() => {
			const fetch = window.fetch, part = ` + browsertest.JSString(part) + `;
			window.fetch = (url, opts) => {
				if (!String(url).includes(part)) return fetch(url, opts);
				const plain = Object.assign({}, opts, {headers: {}, signal: undefined});
				return new Promise(done => setTimeout(() => done(fetch(url, plain)), 1500));
			};
		})()`)
	}
	pick := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.SetValue(chromedp.CSS(`#program`), id), chromedp.Click(chromedp.CSS(`#load`)))
	}
	texts := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll(`+browsertest.JSString(sel)+`)].map(e => e.textContent).join("|")`))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+browsertest.JSString(sel)+`).length`))
		if err != nil {
			t.Fatalf("counting %s: %v", sel, err)
		}
		return n
	}

	err = chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/?program=show"),
		browsertest.WaitSeat("A/1/1", "free"),
		// The picker offers what GET /v1/programs lists, the train this
		// browser has never shown included.
		chromedp.WaitReady(chromedp.CSS(`#programs option[value="g1"]`)),
	)
	if err != nil {
		t.Fatalf("opening the concert: %v (status %q)", err, pageText(t, ctx, "#status"))
	}
	if got := texts("#programs option"); got != "G1 Beijing - Shanghai (Beijing → Shanghai)|Arena" {
		t.Errorf("the picker offers %q; want the programs on sale by id, the train with its route", got)
	}
	err = chromedp.Do(ctx,
		// The concert is picked again, and while its program is on its way
		// (the map says it is loading) the train is picked: the train stays.
		delay("/v1/programs/show"),
		pick("show"),
		chromedp.WaitVisible(chromedp.CSS(`#map[aria-busy="true"] .loading`)),
		pick("g1"),
		browsertest.WaitSeat("1/1/1", "held"),
		chromedp.Sleep(2*time.Second),
	)
	if err != nil {
		t.Fatalf("picking the train: %v (status %q)", err, pageText(t, ctx, "#status"))
	}
	if n, name := count(`button.seat[data-seat^="A/"]`), pageText(t, ctx, "#name"); n != 0 || name != "G1 Beijing - Shanghai" {
		t.Errorf("after picking the train, the page shows %q and %d of the concert's seats; want the train and none", name, n)
	}
	if got := texts("#from option"); got != "Beijing|Jinan|Nanjing" {
		t.Errorf("from: %q; want the stations by name", got)
	}
	if got := texts("#to option"); got != "Jinan|Nanjing|Shanghai" {
		t.Errorf("to: %q; want the stations by name", got)
	}
	if got := texts(".section h3"); got != "Carriage 1|Carriage 2" {
		t.Errorf("sections: %q; want the carriages by number", got)
	}
	if n := count(".stage"); n != 0 {
		t.Errorf("the train has %d stages; want none", n)
	}

	// From Jinan the seat is free; the late answer for Beijing-Shanghai,
	// where it is held, asked for by the poll just before the change,
	// changes nothing.
	err = chromedp.Do(ctx,
		delay("from=0&to=3"),
		chromedp.Sleep(1200*time.Millisecond),
		chromedp.Evaluate[chromedp.Void](`(s => { s.value = "1"; s.dispatchEvent(new Event("change")); })(document.getElementById("from"))`),
		browsertest.WaitSeat("1/1/1", "free"),
		chromedp.Sleep(2500*time.Millisecond),
		browsertest.WaitSeat("1/1/1", "free"),
	)
	if err != nil {
		t.Fatalf("from Jinan: %v", err)
	}
	label, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`button.seat[data-seat="1/1/1"]`), "aria-label"))
	if want := "Carriage 1, row 1, seat 01A (window): First class, 930.00, available"; err != nil || label.Value != want {
		t.Errorf("seat 1/1/1's label %q (%v); want %q", label.Value, err, want)
	}
	if got := pageText(t, ctx, ".route"); got != "Beijing → Jinan → Nanjing → Shanghai" {
		t.Errorf("route %q", got)
	}

	// The train is real-name: a hold names its traveller.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#devtoken`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="status"][contains(., "Signed in")]`)),
		browsertest.ClickSeat("1/2/1"),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-code="HOLDERS_MISSING"]`)),
		chromedp.SendKeys(chromedp.CSS(`#travellerRows li:first-child input.name`), "Han Meimei"),
		// A wrong check character first: the page names the traveller
		// and what is wrong.
		chromedp.SendKeys(chromedp.CSS(`#travellerRows li:first-child input.id-number`), "110101198502034564"),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="status"][@data-code="HOLDERS_MISMATCH"][contains(., "Traveller 1's ID number is not a valid one")]`)),
		chromedp.SetValue(chromedp.CSS(`#travellerRows li:first-child input.id-number`), "110101198502034563"),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		browsertest.WaitSeat("1/2/1", "held"),
	)
	if err != nil {
		t.Fatalf("holding a seat from Jinan: %v (status %q)", err, pageText(t, ctx, "#status"))
	}
	if n := count("#travellerRows li"); n != 2 {
		t.Errorf("with nothing chosen, %d travellers are asked for; want 2, the count", n)
	}
	if got := pageText(t, ctx, "#status"); !strings.HasPrefix(got, "Held for you: Carriage 1, row 2, seat 02A (window). Total 930.00") {
		t.Errorf("after the hold the page says %q", got)
	}
	// The best seat by the window, for a passport holder: row 1's 01A is
	// free from Jinan on (the other buyer has it to Jinan only).
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#count`), "1"),
		chromedp.SetValue(chromedp.CSS(`#category`), "first"),
		chromedp.SetValue(chromedp.CSS(`#position`), "window"),
		chromedp.SetValue(chromedp.CSS(`#travellerRows li:first-child input.name`), "John Smith"),
		chromedp.SetValue(chromedp.CSS(`#travellerRows li:first-child select.id-type`), "passport"),
		chromedp.SetValue(chromedp.CSS(`#travellerRows li:first-child input.id-number`), "E12345678"),
		chromedp.Click(chromedp.CSS(`#holdBest`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="status"][starts-with(., "Held for you: Carriage 1, row 1, seat 01A (window)")]`)),
	)
	if err != nil {
		t.Fatalf("the best window seat: %v (status %q)", err, pageText(t, ctx, "#status"))
	}
	shots := browsertest.ArtefactDir(t)
	browsertest.Screenshots(t, ctx, shots, "train")
	err = chromedp.Do(ctx, browsertest.Emulate(browsertest.Screens[1]),
		chromedp.Poll[chromedp.Void](`document.documentElement.scrollWidth <= window.innerWidth`, chromedp.WithPollingTimeout(5*time.Second)),
		browsertest.Emulate(browsertest.Screens[0]))
	if err != nil {
		width, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		t.Errorf("at 375 pixels wide the page is %d wide: %v", width, err)
	}

	// Back to the concert: no carriage is left.
	err = chromedp.Do(ctx, pick("show"), browsertest.WaitSeat("A/1/1", "free"), chromedp.WaitVisible(chromedp.CSS(".stage")))
	if err != nil {
		t.Fatalf("back to the concert: %v", err)
	}
	if n := count(`button.seat[data-seat^="1/"]`); n != 0 {
		t.Errorf("back at the concert, %d of the train's seats are shown", n)
	}
	if legs, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("legs").hidden`)); err != nil || !legs {
		t.Errorf("the concert offers a leg choice")
	}
}

// TestPageSeatDetailsKeyboardAndErrors: pointing at a seat or focusing
// it says its place, price and status; the arrow keys, Home and End move
// between seats and Enter and Space choose them, which hold like clicks;
// an error the API answers shows as a sentence, never its code or JSON.
func TestPageSeatDetailsKeyboardAndErrors(t *testing.T) {
	ctx := browsertest.Browse(t, time.Minute)
	s := startSystem(t)
	s.arena("show")
	info := func() string { t.Helper(); return pageText(t, ctx, "#seatInfo") }
	focused := func() string {
		t.Helper()
		id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.dataset.seat || ""`))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/?program=show"),
		browsertest.WaitSeat("A/1/3", "free"),
		chromedp.Click(chromedp.CSS(`#devtoken`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="status"][contains(., "Signed in")]`)),
	)
	if err != nil {
		t.Fatal(err)
	}

	// The pointer over a seat.
	box, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(r => [r.x + r.width / 2, r.y + r.height / 2])(document.querySelector('button[data-seat="A/1/3"]').getBoundingClientRect())`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseEvent(chromedp.MouseMoved, box[0], box[1])); err != nil {
		t.Fatal(err)
	}
	if got, want := info(), "Section A, row 1, seat 3: VIP, 500.00, available"; got != want {
		t.Errorf("pointing at A/1/3: %q; want %q", got, want)
	}

	// The keyboard: one seat in the tab order, moved by the keys.
	steps := []struct {
		key, seat, says string
	}{
		{kb.ArrowRight, "A/1/2", "Section A, row 1, seat 2: VIP, 500.00, available"},
		{kb.ArrowDown, "A/2/2", "Section A, row 2, seat 2: Standard, 200.00, available"},
		{kb.Enter, "A/2/2", "Section A, row 2, seat 2: Standard, 200.00, your choice"},
		{kb.ArrowRight, "A/2/3", "Section A, row 2, seat 3: Standard, 200.00, available"},
		{" ", "A/2/3", "Section A, row 2, seat 3: Standard, 200.00, your choice"},
		{kb.End, "A/2/10", "Section A, row 2, seat 10 (aisle): Standard, 200.00, available"},
		{kb.Home, "A/2/1", "Section A, row 2, seat 1 (aisle): Standard, 200.00, available"},
		{kb.ArrowUp, "A/1/1", "Section A, row 1, seat 1 (aisle): VIP, 500.00, available"},
		{kb.ArrowUp, "A/1/1", "Section A, row 1, seat 1 (aisle): VIP, 500.00, available"},
	}
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`button[data-seat="A/1/1"]`))); err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(st.key)); err != nil {
			t.Fatal(err)
		}
		if seat, says := focused(), info(); seat != st.seat || says != st.says {
			t.Errorf("key %q: focus on %q saying %q; want %q saying %q", st.key, seat, says, st.seat, st.says)
		}
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('button.seat[tabindex="0"]').length`)); err != nil || n != 1 {
		t.Errorf("%d seats in the tab order (%v); want 1", n, err)
	}
	err = chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS(`#holdSelected`)),
		chromedp.KeyEvent(kb.Enter),
		browsertest.WaitSeat("A/2/2", "held"),
		browsertest.WaitSeat("A/2/3", "held"),
	)
	if err != nil {
		t.Fatalf("holding the chosen seats: %v (status %q)", err, pageText(t, ctx, "#status"))
	}

	// Every VIP seat is blocked: asking for two is refused, in words.
	var vip []string
	for c := 1; c <= 10; c++ {
		vip = append(vip, "A/1/"+strconv.Itoa(c))
	}
	s.want(s.do("POST", "/v1/programs/show/blocks", adminToken, map[string]any{"seats": vip}, nil), http.StatusOK, "")
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#category`), "vip"),
		chromedp.Click(chromedp.CSS(`#holdBest`)),
		chromedp.WaitVisible(chromedp.CSS(`#status.error`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	code, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#status`), "data-code"))
	if status := pageText(t, ctx, "#status"); err != nil || code.Value != "SOLD_OUT" || status != "Sold out: no seats are left in that category." {
		t.Errorf("after asking for blocked seats the page says %q (code %q, %v); want SOLD_OUT in words", status, code.Value, err)
	}
	browsertest.Screenshots(t, ctx, browsertest.ArtefactDir(t), "refused")
}

// TestPagePlan: a venue whose sections are placed is drawn from above,
// each section a box and the stage at the program's focal point, where
// best-available measures from; a box takes the buyer to its section.
func TestPagePlan(t *testing.T) {
	ctx := browsertest.Browse(t, time.Minute)
	s := startSystem(t)
	s.open(map[string]any{"id": "placed", "name": "Placed", "focal_point": map[string]any{"x": 60, "y": -10},
		"categories": []map[string]any{{"id": "std", "name": "Standard", "price_cents": 1000}},
		"grid": map[string]any{"sections": 2, "rows": 2, "cols": 4, "categories": []map[string]any{{"id": "std", "rows": []int{1, 2}}},
			"section_positions": []map[string]any{{"x": 0, "y": 0}, {"x": 40, "y": 0}}}})
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/?program=placed"),
		browsertest.WaitSeat("B/1/1", "free"),
		chromedp.WaitVisible(chromedp.CSS(`svg.plan rect.plan-stage`)),
	)
	if err != nil {
		t.Fatalf("the plan: %v (status %q)", err, pageText(t, ctx, "#status"))
	}
	// The stage's box is centred on the focal point: x 60 - 20 .. 60 + 20.
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const st = document.querySelector("svg.plan rect.plan-stage");
		const boxes = [...document.querySelectorAll("svg.plan rect.plan-section")].map(r => r.getAttribute("x") + "-" + r.getAttribute("width"));
		return st.getAttribute("x") + "+" + st.getAttribute("width") + " " + boxes.join(" ") + " " + document.querySelectorAll(".stage").length;
	})()`))
	// Seats of columns 1-4, each a 5-wide cell around its point: A from
	// x 0+2.5 to 0+22.5, B from 40+2.5 to 40+22.5.
	if want := "40+40 2.5-20 42.5-20 0"; err != nil || got != want {
		t.Errorf("plan: stage x+width, boxes x-width, bars: %q (%v); want %q", got, err, want)
	}
	browsertest.Screenshots(t, ctx, browsertest.ArtefactDir(t), "plan")

	// A focal point a kilometre off is drawn at the plan's edge in its
	// direction, and the sections keep their size on the plan.
	s.open(map[string]any{"id": "far", "name": "Far", "focal_point": map[string]any{"x": 1000000, "y": 1000000},
		"categories": []map[string]any{{"id": "std", "name": "Standard", "price_cents": 1000}},
		"grid": map[string]any{"sections": 2, "rows": 2, "cols": 4, "categories": []map[string]any{{"id": "std", "rows": []int{1, 2}}},
			"section_positions": []map[string]any{{"x": 0, "y": 0}, {"x": 40, "y": 0}}}})
	err = chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/?program=far"),
		browsertest.WaitSeat("B/1/1", "free"),
		chromedp.WaitVisible(chromedp.CSS(`svg.plan rect.plan-stage`)),
	)
	if err != nil {
		t.Fatalf("the far plan: %v", err)
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("svg.plan rect.plan-section").getBoundingClientRect().width`))
	if err != nil || width < 40 {
		t.Errorf("with the stage a kilometre off, a section is %.1f px wide on the plan (%v); want at least 40, readable and clickable", width, err)
	}
}
