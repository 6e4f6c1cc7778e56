// Package browser drives Debian's headless Chromium for the UI's
// end-to-end tests. It is the only importer of chromedp: tests say what to
// do (open, fill, click, read, screenshot) in CSS selectors.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package puts the browser.
const Path = "/usr/bin/chromium"

// ErrMissing says Chromium is not installed (make deps installs it).
var ErrMissing = errors.New("chromium is not installed (make deps installs Debian's chromium)")

// Browser is one headless Chromium with one tab.
type Browser struct {
	ctx     context.Context
	cancel  func()
	Timeout time.Duration // for each step (default 20s)
	mu      sync.Mutex
	dialogs []string
}

// Start runs Chromium with an empty profile in dir, without the
// background traffic a closed network refuses.
func Start(dir string) (*Browser, error) {
	bin := Path
	if _, err := os.Stat(bin); err != nil {
		return nil, ErrMissing
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.UserDataDir(dir), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1440, 900))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{ctx: ctx, cancel: func() { cancel(); acancel() }, Timeout: 20 * time.Second}
	if err := chromedp.Do(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	// A script the page should not run (alert, confirm) shows up here.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return b, nil
}

// Close stops the browser.
func (b *Browser) Close() { b.cancel() }

// Dialogs are the messages of the JavaScript dialogs pages opened.
func (b *Browser) Dialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

func (b *Browser) do(what string, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func get[T any](b *Browser, what string, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		return v, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// Open loads url.
func (b *Browser) Open(url string) error { return b.do("open "+url, chromedp.Navigate(url)) }

// Reload reloads the page.
func (b *Browser) Reload() error { return b.do("reload", chromedp.Reload()) }

// Wait waits until sel is visible.
func (b *Browser) Wait(sel string) error {
	return b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Fill types value into the input sel (after clearing it).
func (b *Browser) Fill(sel, value string) error {
	c := chromedp.CSS(sel)
	if err := b.do("fill "+sel, chromedp.WaitVisible(c)); err != nil {
		return err
	}
	if _, err := get(b, "clear "+sel, chromedp.Evaluate[string](fmt.Sprintf("document.querySelector(%q).value = ''", sel))); err != nil {
		return err
	}
	return b.do("fill "+sel, chromedp.SendKeys(c, value))
}

// Select picks value in the select sel.
func (b *Browser) Select(sel, value string) error {
	c := chromedp.CSS(sel)
	return b.do("select "+sel, chromedp.WaitVisible(c), chromedp.SetValue(c, value))
}

// Click clicks sel.
func (b *Browser) Click(sel string) error {
	c := chromedp.CSS(sel)
	return b.do("click "+sel, chromedp.WaitVisible(c), chromedp.Click(c))
}

// Text is the text of sel once it is visible.
func (b *Browser) Text(sel string) (string, error) {
	if err := b.Wait(sel); err != nil {
		return "", err
	}
	return get(b, "text of "+sel, chromedp.TextContent(chromedp.CSS(sel)))
}

// Count is how many elements match sel now.
func (b *Browser) Count(sel string) (int, error) {
	return get(b, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
}

// EvalString evaluates a JavaScript expression giving a string.
func (b *Browser) EvalString(expr string) (string, error) {
	return get(b, "eval", chromedp.Evaluate[string](expr))
}

// Screenshot writes a PNG of the whole page to path.
func (b *Browser) Screenshot(path string) error {
	png, err := get(b, "screenshot", chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// ScreenshotView writes a PNG of what the window shows (the top of the
// page) to path.
func (b *Browser) ScreenshotView(path string) error {
	png, err := get(b, "screenshot", chromedp.CaptureScreenshot())
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}
