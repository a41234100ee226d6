package hosttest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is where Debian's chromium package puts the browser; any
// "chromium" on PATH serves where it is not.
const chromium = "/usr/bin/chromium"

// BrowserOptions says what browser a page's test needs.
type BrowserOptions struct {
	// Width and Height are the window's size in CSS pixels (default
	// 390×844, a phone).
	Width, Height int
	// Timeout bounds all the test does in the browser once it has started
	// (default 2 minutes).
	Timeout time.Duration
}

// Browser starts headless Chromium with a fresh profile in t.TempDir()
// and returns a context for chromedp that ends with the test or after
// o.Timeout, whichever comes first. It skips the test when Chromium is not
// installed and fails it when Chromium is there but does not start.
//
// The browser runs without its sandbox, which it cannot set up as root or
// in a container, and without the GPU, the first-run pages, the sync and
// update services or /dev/shm, which containers keep small.
func Browser(t testing.TB, o BrowserOptions) context.Context {
	t.Helper()
	if o.Width == 0 || o.Height == 0 {
		o.Width, o.Height = 390, 844
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	bin := chromium
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("chromium"); err != nil {
			t.Skip("chromium not installed: apt-get install chromium")
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(o.Width, o.Height),
	)
	ctx, cancelCtx := chromedp.NewContext(actx)
	// The first call starts the browser, which lives as long as that
	// call's context: so no timeout there, only on what follows.
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelTimeout := context.WithTimeout(ctx, o.Timeout)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return tctx
}

// Do runs steps in the browser of ctx and fails the test with what it
// was doing if one of them fails.
func Do(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// Read runs a in the browser of ctx and returns what it reads (a
// page's text, a script's value); it fails the test if a fails.
func Read[T any](t testing.TB, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}
