package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The browser half of the harness: `coordinator serve` is looked at in a
// real headless Chromium, as coordinator/internal/dashboard's own browser
// test does against a fake source (same flags, same idea of what counts
// as an error on the page).

// ChromiumPath finds the browser ($DDBFLEET_CHROMIUM, else
// /usr/bin/chromium). Where a browser is required — CI, or
// DDBFLEET_REQUIRE_BROWSER=1, which scripts/test.sh sets — a missing one
// fails the test, so it cannot pass as green; elsewhere the test skips
// and says how to install it.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	path := os.Getenv("DDBFLEET_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		ci := os.Getenv("CI")
		if (ci != "" && ci != "false" && ci != "0") || os.Getenv("DDBFLEET_REQUIRE_BROWSER") == "1" {
			t.Fatalf("chromium not found at %s (%v); install it with scripts/browser.sh", path, err)
		}
		t.Skipf("chromium not found at %s; install it with scripts/browser.sh (set DDBFLEET_REQUIRE_BROWSER=1 to make this a failure)", path)
	}
	return path
}

// ArtifactsDir is where a test leaves files for a person to open after the
// run (screenshots): $DDBFLEET_ARTIFACTS_DIR, else a new temporary folder
// that outlives the test.
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DDBFLEET_ARTIFACTS_DIR")
	if dir == "" {
		d, err := os.MkdirTemp("", "ddbfleet-e2e-")
		require.NoError(t, err)
		dir = d
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// Browser is one headless Chromium tab, with what it reported as errors.
type Browser struct {
	Tab      context.Context
	problems consoleProblems
}

// NewBrowser starts Chromium (ChromiumPath) under ctx with one tab; it is
// closed when ctx ends or the test does.
func NewBrowser(t testing.TB, ctx context.Context) *Browser {
	t.Helper()
	chromium := ChromiumPath(t)
	// The flags the machines here need: no sandbox as root, no GPU, and
	// nothing that reaches for the network on its own.
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 1000),
	)
	b := &Browser{}
	tab, cancelTab := chromedp.NewContext(alloc, chromedp.WithListener(b.problems.listen), chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b.Tab = tab
	// Start the browser now, so its start-up is not charged to the first
	// step's timeout.
	require.NoError(t, chromedp.Do(tab))
	return b
}

// Problems is what a person would see as red in DevTools so far:
// console.error and console.assert calls, uncaught exceptions, and browser
// log errors such as a failed request or a CSP violation.
func (b *Browser) Problems() []string { return b.problems.all() }

// Screenshot saves a full-page PNG as dir/name and returns its path.
func (b *Browser) Screenshot(t testing.TB, dir, name string) string {
	t.Helper()
	png, err := chromedp.Run(b.Tab, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
	return path
}

type consoleProblems struct {
	mu   sync.Mutex
	list []string
}

func (c *consoleProblems) listen(ev any) {
	var p string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				if a.Description != "" {
					args = append(args, a.Description)
				} else {
					args = append(args, string(a.Value))
				}
			}
			p = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		p = fmt.Sprintf("uncaught exception: %s at %s:%d", d.Text, d.URL, d.LineNumber+1)
		if d.Exception != nil {
			p += " " + d.Exception.Description
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			p = fmt.Sprintf("browser log error (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		}
	}
	if p != "" {
		c.mu.Lock()
		c.list = append(c.list, p)
		c.mu.Unlock()
	}
}

func (c *consoleProblems) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.list...)
}
