// Package browsertest gives tests of the live seat-map page a headless
// Chromium tab (through chromedp), the actions on the page they share,
// the two screens they try it on (a laptop's and a phone's), and a place
// for their screenshots.
//
// Chromium may be missing only outside CI: there Browse skips the test,
// saying why; with CI set in the environment it fails the test instead,
// so that CI never passes by skipping (.ci/run installs Debian's
// chromium). Each Browse starts its own browser, with its own profile,
// for the test that asked; the test's cleanup stops it. Call the
// functions that take a testing.TB from the test's own goroutine.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium finds the browser, or skips (fails, under CI) the test.
func Chromium(t testing.TB) string {
	t.Helper()
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

// Browse starts headless Chromium for one test and returns its tab; the
// browser stops with the test, and the tab's actions fail after timeout.
// An action may run under a context derived from the tab's, with its own
// deadline: when that ends, the action fails and the tab stays.
func Browse(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(Chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// Start the browser and the tab now, under ctx: they belong to the
	// context of the first action, and a caller's action may run under a
	// shorter-lived context derived from the one returned.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelTimeout)
	return ctx
}

// ClickSeat clicks a seat's button on the seat map, found by its seat
// id whatever characters the id holds.
func ClickSeat(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.JSPath(fmt.Sprintf(`[...document.querySelectorAll("button.seat")].find(b => b.dataset.seat === %s)`, JSString(id))))
}

// WaitSeat waits until the seat map shows the seat with status (free,
// held, sold, blocked).
func WaitSeat(id, status string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll("button.seat")].some(b => b.dataset.seat === %s && b.dataset.status === %s)`,
		JSString(id), JSString(status)))
}

// JSString quotes s as a JavaScript string literal.
func JSString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// ArtefactDir is where a test keeps what it leaves for people to look
// at: $SEATD_ARTEFACTS/<test name> when SEATD_ARTEFACTS is set (an
// absolute path; .artefacts/ at the top of the tree is ignored by git),
// else a temporary directory removed with the test.
func ArtefactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("SEATD_ARTEFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, unsafeInName.ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artefact directory: %v", err)
	}
	return dir
}

// A Screen is a screen size a page is tried and kept at.
type Screen struct {
	Name          string
	Width, Height int64
	Mobile        bool // a phone's: touch, portrait, the viewport meta tag honoured
}

// Screens are a laptop's screen and a phone's (an iPhone SE's, 375x667
// CSS pixels), the two sizes the live page must work at.
var Screens = []Screen{{"desktop", 1280, 800, false}, {"phone", 375, 667, true}}

// Emulate makes the tab's viewport the screen's.
func Emulate(s Screen) chromedp.Action[chromedp.Void] {
	if s.Mobile {
		return chromedp.EmulateViewport(s.Width, s.Height, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	return chromedp.EmulateViewport(s.Width, s.Height)
}

// Screenshots saves a screenshot of the page at each of Screens, as
// dir/name-phone.png and dir/name-desktop.png, and leaves the tab at the
// first one's (desktop) size.
func Screenshots(t testing.TB, ctx context.Context, dir, name string) {
	t.Helper()
	for i := len(Screens) - 1; i >= 0; i-- {
		if err := chromedp.Do(ctx, Emulate(Screens[i]), chromedp.Sleep(200*time.Millisecond)); err != nil {
			t.Errorf("screen %s: %v", Screens[i].Name, err)
			return
		}
		Screenshot(t, ctx, dir, name+"-"+Screens[i].Name)
	}
}

// unsafeInName are the runs of characters of a test's name (subtests
// included) that ArtefactDir does not put in a directory name.
var unsafeInName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Screenshot saves a PNG of the whole page as dir/name.png and returns
// its path. When the browser gives no PNG it marks the test failed and
// returns "", but lets it go on: a test also takes one on its way out
// after a failure, which the screenshot's own failure must not hide.
func Screenshot(t testing.TB, ctx context.Context, dir, name string) string {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil && (len(shot) < 1000 || !bytes.HasPrefix(shot, []byte("\x89PNG"))) {
		err = fmt.Errorf("%d bytes that are not a PNG", len(shot))
	}
	path := filepath.Join(dir, name+".png")
	if err == nil {
		err = os.WriteFile(path, shot, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	t.Logf("screenshot: %s", path)
	return path
}
