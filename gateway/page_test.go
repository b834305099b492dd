package gateway

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser for the page test. It may be missing only
// outside CI: .ci/run installs Debian's chromium.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/run must install it")
	}
	t.Skip("chromium is not installed (apt-get install chromium); CI installs it and runs this test")
	return ""
}

// TestSeatMapPage loads the live seat map in headless Chromium, signs in
// with a dev token, holds two seats by clicking them, and sees them turn
// held; the inventory agrees, and a screenshot is kept.
func TestSeatMapPage(t *testing.T) {
	browser := chromium(t)
	s := startSystem(t)
	s.arena("show")

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	err := chromedp.Do(ctx,
		chromedp.Navigate(s.url+"/?program=show"),
		chromedp.WaitVisible(chromedp.CSS(`#seat-A-2-1`)),
		chromedp.Click(chromedp.CSS(`#devtoken`)),
		chromedp.WaitVisible(chromedp.Search(`//div[@id="status"][contains(., "signed in")]`)),
		chromedp.Click(chromedp.CSS(`#seat-A-2-1`)),
		chromedp.Click(chromedp.CSS(`#seat-A-2-2`)),
		chromedp.Click(chromedp.CSS(`#holdSelected`)),
		chromedp.WaitVisible(chromedp.CSS(`#seat-A-2-1.held`)),
		chromedp.WaitVisible(chromedp.CSS(`#seat-A-2-2.held`)),
	)
	status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#status`)))
	if err != nil {
		t.Fatalf("page: %v (status %q)", err, status)
	}
	seat1, err1 := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#seat-A-2-1`), "class"))
	seat2, err2 := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#seat-A-2-3`), "class"))
	shot, err3 := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("reading the page: %v %v %v", err1, err2, err3)
	}
	if !strings.Contains(status, "A/2/1 A/2/2") || seat1.Value != "seat held" || seat2.Value != "seat free" {
		t.Fatalf("after holding A/2/1 and A/2/2: status %q, A/2/1 %q, A/2/3 %q", status, seat1.Value, seat2.Value)
	}
	if len(shot) < 1000 || !bytes.HasPrefix(shot, []byte("\x89PNG")) {
		t.Fatalf("screenshot of %d bytes is not a PNG", len(shot))
	}
	path := filepath.Join(t.TempDir(), "seatmap.png")
	os.WriteFile(path, shot, 0o644)
	t.Logf("screenshot: %s", path)
	if dir := os.Getenv("SEATD_SCREENSHOT_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "seatmap.png"), shot, 0o644)
	}
	sm := s.do("GET", "/v1/programs/show/seats?category=std", "", nil, nil)
	for _, id := range []string{"A/2/1", "A/2/2"} {
		if !strings.Contains(string(sm.body), `"id":"`+id+`","section":"A","row":"2","col":`) ||
			!strings.Contains(string(sm.body), `"id":"`+id+`","section":"A","row":"2","col":`+id[4:]+`,"label":"`+id[4:]+`","category":"std","status":"held"`) {
			t.Fatalf("seat %s is not held in the inventory: %s", id, sm.body)
		}
	}
}
