package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/hosttest"
)

// browser starts headless Chromium (see hosttest.Browser) at width ×
// height. Any alert the page raises fails the test (an item value ran as
// script); confirms (deleting a subscription) are accepted.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	ctx := hosttest.Browser(t, hosttest.BrowserOptions{Width: width, Height: height, Timeout: 3 * time.Minute})
	go func() {
		for d, err := range chromedp.Events(ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			if d.Type != page.DialogTypeConfirm {
				t.Errorf("the page raised a %s dialog %q: a value ran as script", d.Type, d.Message)
			}
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: d.Type == page.DialogTypeConfirm})
			}()
		}
	}()
	return ctx
}

// screensDir is where the test writes its screenshots:
// PAPERFLOW_CONSOLE_SCREENS, or a temp dir.
func screensDir(t *testing.T) string {
	if d := os.Getenv("PAPERFLOW_CONSOLE_SCREENS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	var png []byte
	hosttest.Do(t, ctx, "screenshot "+name, into(&png, chromedp.FullScreenshot(100)))
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowser walks the console as an operator would: log in, start a run
// by uploading a CSV and watch it reach 100% live, open the failed item
// and retry it once its cause is fixed, preview an email, replay a dead
// letter, create and delete a subscription; an item value holding HTML
// shows as text throughout.
func TestBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := browser(t, 1280, 900)
	shots := screensDir(t)
	csv := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(csv, []byte(itemsCSV(300)), 0o644); err != nil {
		t.Fatal(err)
	}

	// Log in.
	hosttest.Do(t, ctx, "log in",
		chromedp.Navigate(e.url+"/workflows"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), testToken),
		chromedp.Click(chromedp.CSS(`form.stack button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.upload`)),
	)

	// Upload the CSV; the run page follows the run live to 100%.
	var url string
	hosttest.Do(t, ctx, "upload a CSV",
		chromedp.SetUploadFiles(chromedp.CSS(`#file-console-test`), []string{csv}),
		chromedp.Click(chromedp.CSS(`form.upload button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-field="percent"]`)),
		into(&url, chromedp.Location()),
		chromedp.Evaluate[chromedp.Void](`window.stayed = true`),
	)
	if !strings.Contains(url, "/runs/") {
		t.Fatalf("after the upload the browser is at %s, want the run's page", url)
	}
	runID := url[strings.LastIndex(url, "/")+1:]
	// The upload is a version of its own: nothing beside the workflow file.
	if beside, _ := filepath.Glob(filepath.Join(e.dir, ".upload-*")); len(beside) > 0 {
		t.Errorf("the upload wrote %v beside the workflow file", beside)
	}
	if rec, err := e.engine.RunRecord(e.ctx, runID); err != nil || rec.Version == "" {
		t.Errorf("the upload's run record %+v %v: want the version it runs on", rec, err)
	}
	hosttest.Do(t, ctx, "watch the run reach 100%",
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-field="percent"]').textContent === "100%" &&
			document.querySelector('.summary [data-field="status"]').textContent === "completed"`, chromedp.WithPollingTimeout(2*time.Minute)),
	)
	var stayed bool
	hosttest.Do(t, ctx, "same page", into(&stayed, chromedp.Evaluate[bool](`window.stayed === true`)))
	if !stayed {
		t.Fatal("the page reloaded to show the progress")
	}
	hosttest.Do(t, ctx, "wait for the items table to settle", chromedp.WaitVisible(chromedp.CSS(`a[href="/runs/`+runID+`/items/3"]`)))
	screenshot(t, ctx, shots, "run-1280.png")

	// The hostile value is text on the run page (the failed item's error).
	var imgs int
	var errText string
	hosttest.Do(t, ctx, "read the failed item's error",
		chromedp.Navigate(e.url+"/runs/"+runID+"?status=failed"),
		chromedp.WaitVisible(chromedp.CSS(`td.err`)),
		into(&errText, chromedp.Text(chromedp.CSS(`td.err`))),
		into(&imgs, chromedp.Evaluate[int](`document.querySelectorAll('main img').length`)),
	)
	if !strings.Contains(errText, hostile) || !strings.Contains(errText, "people.csv:4") || !strings.Contains(errText, "check") {
		t.Fatalf("failed item's error shows %q; want the origin people.csv:4, the block and the value as text", errText)
	}
	if imgs != 0 {
		t.Fatal("an item value became an <img> on the run page")
	}

	// Open the failed item, fix its cause and retry it.
	hosttest.Do(t, ctx, "open the failed item",
		chromedp.Click(chromedp.CSS(`a[href="/runs/`+runID+`/items/3"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#retry-item`)),
	)
	if err := os.WriteFile(e.marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	hosttest.Do(t, ctx, "retry the item",
		chromedp.Click(chromedp.CSS(`#retry-item`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		chromedp.Poll[chromedp.Void](`fetch(location.pathname).then(r => r.text()).then(t => t.includes('class="status s-succeeded"'))`,
			chromedp.WithPollingTimeout(time.Minute), chromedp.WithPollingInterval(200*time.Millisecond)),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`h2#h-mail`)),
	)

	// Preview the email of item 2, whose name is the hostile value.
	var subject, title, mailCSP string
	hosttest.Do(t, ctx, "preview an email",
		chromedp.Navigate(e.url+"/runs/"+runID+"/items/2"),
		chromedp.WaitVisible(chromedp.CSS(`iframe.preview`)),
		into(&subject, chromedp.Text(chromedp.CSS(`[data-field="subject"]`))),
		into(&imgs, chromedp.Evaluate[int](`document.querySelectorAll('main img').length`)),
		into(&mailCSP, chromedp.Evaluate[string](`fetch(document.querySelector('iframe.preview').src).then(r => r.headers.get('Content-Security-Policy'))`, awaitPromise)),
		into(&title, chromedp.Evaluate[string](`document.title`)),
	)
	if subject != "Hello "+hostile || imgs != 0 {
		t.Fatalf("email subject shows %q with %d images; want the value as text", subject, imgs)
	}
	if !strings.Contains(mailCSP, "sandbox") || !strings.Contains(mailCSP, "default-src 'none'") || strings.Contains(title, "scripted") {
		t.Fatalf("the email preview is not sandboxed: CSP %q, title %q", mailCSP, title)
	}
	var sandbox string
	hosttest.Do(t, ctx, "frame sandbox", into(&sandbox, chromedp.Evaluate[string](`document.querySelector('iframe.preview').getAttribute('sandbox')`)))
	if sandbox != "" {
		t.Fatalf("iframe sandbox=%q, want an empty (strictest) sandbox", sandbox)
	}
	screenshot(t, ctx, shots, "item-1280.png")

	// Item 1's EMAILS_CREATED went to a receiver that failed: replay the
	// dead letter once it accepts.
	hosttest.Do(t, ctx, "wait for the dead letter",
		chromedp.Navigate(e.url+"/webhooks"),
		chromedp.Poll[chromedp.Void](`fetch('/webhooks').then(r => r.text()).then(t => t.includes('data-dead='))`,
			chromedp.WithPollingTimeout(time.Minute), chromedp.WithPollingInterval(200*time.Millisecond)),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-dead] button`)),
	)
	e.receiver.accept.Store(true)
	hosttest.Do(t, ctx, "replay the dead letter",
		chromedp.Click(chromedp.CSS(`tr[data-dead] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
	)
	select {
	case body := <-e.receiver.got:
		if !strings.Contains(body, `"item_id":"1"`) {
			t.Fatalf("the receiver got %s, want item 1's event", body)
		}
	case <-ctx.Done():
		t.Fatal("the replayed dead letter never reached the receiver")
	}

	// Create a subscription: its secret shows once; then delete it.
	var secret string
	hosttest.Do(t, ctx, "create a subscription",
		chromedp.SendKeys(chromedp.CSS(`#sub-url`), e.receiver.url+"/subscribed"),
		chromedp.SendKeys(chromedp.CSS(`#sub-desc`), "console test "+hostile),
		chromedp.Click(chromedp.CSS(`form[action="/webhooks"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#secret`)),
		into(&secret, chromedp.Value(chromedp.CSS(`#secret`))),
	)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret shown %q, want whsec_…", secret)
	}
	var html string
	hosttest.Do(t, ctx, "the secret is gone on the next view",
		chromedp.Navigate(e.url+"/webhooks"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-sub]`)),
		into(&html, chromedp.OuterHTML(chromedp.CSS(`html`))),
		into(&imgs, chromedp.Evaluate[int](`document.querySelectorAll('main img').length`)),
	)
	if strings.Contains(html, secret) || imgs != 0 {
		t.Fatal("the webhooks page shows the secret again, or the description as HTML")
	}
	var left int
	hosttest.Do(t, ctx, "delete the subscription",
		chromedp.Click(chromedp.CSS(`tr[data-sub] button.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		into(&left, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-sub]').length`)),
	)
	if left != 0 {
		t.Fatalf("%d subscriptions left after deleting the only one", left)
	}

	// The live tail shows the run's events.
	hosttest.Do(t, ctx, "tail events",
		chromedp.Navigate(e.url+"/events?type=EMAILS_CREATED"),
		chromedp.WaitVisible(chromedp.CSS(`#tail li`)),
	)

	// At phone width: the run and the item pages.
	hosttest.Do(t, ctx, "phone width",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(e.url+"/runs/"+runID),
		chromedp.WaitVisible(chromedp.CSS(`table.items`)),
	)
	screenshot(t, ctx, shots, "run-390.png")
	var overflow bool
	hosttest.Do(t, ctx, "no sideways scroll", into(&overflow, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)))
	if overflow {
		t.Error("the run page scrolls sideways at 390 px")
	}
	hosttest.Do(t, ctx, "item at phone width",
		chromedp.Navigate(e.url+"/runs/"+runID+"/items/2"),
		chromedp.WaitVisible(chromedp.CSS(`iframe.preview`)),
	)
	screenshot(t, ctx, shots, "item-390.png")
	hosttest.Do(t, ctx, "workflows at phone width",
		chromedp.Navigate(e.url+"/workflows"),
		chromedp.WaitVisible(chromedp.CSS(`ol.chain`)),
	)
	screenshot(t, ctx, shots, "workflows-390.png")
	// The keyboard reaches the skip link first, then the navigation.
	var focused []string
	for range 3 {
		var f string
		hosttest.Do(t, ctx, "tab", chromedp.KeyEvent("\t"), into(&f, chromedp.Evaluate[string](`document.activeElement.textContent.trim()`)))
		focused = append(focused, f)
	}
	if strings.Join(focused, "|") != "Skip to content|paperflow|Workflows" {
		t.Errorf("focus order %q, want the skip link, the home link, then the navigation", focused)
	}
	t.Logf("screenshots in %s", shots)
}

var awaitPromise = chromedp.EvalAwaitPromise

// into runs a with a value and keeps the value in dst.
func into[T any](dst *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := a(ctx, t)
		*dst = v
		return err
	})
}

// TestBrowserSignaturesAndSubscriptionEdit walks the signature panel and
// the subscription edit form in Chromium at 1280 px and 390 px: the
// panel shows a recipient (named with HTML, shown as text), Resend queues
// a new link, Cancel with a reason shows the request cancelled; the edit
// form shows the store's refusal of a value holding HTML as text and
// saves the fix.
func TestBrowserSignaturesAndSubscriptionEdit(t *testing.T) {
	e := newEnv(t)
	runID := e.serveSignatures(t)
	u, desc := e.receiver.url+"/hook", "before"
	sub, err := e.subs.Create(e.ctx, delivery.SubscriptionInput{URL: &u, Description: &desc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t, 1280, 900)
	shots := screensDir(t)
	item := e.url + "/runs/" + runID + "/items/1"
	hosttest.Do(t, ctx, "log in",
		chromedp.Navigate(item),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), testToken),
		chromedp.Click(chromedp.CSS(`form.stack button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#signatures [data-recipient="ada@example.com"]`)),
	)

	// The panel: the request, its recipients, the name as text.
	var name, req string
	var imgs int
	hosttest.Do(t, ctx, "read the panel",
		into(&name, chromedp.Text(chromedp.CSS(`#signatures [data-recipient="ada@example.com"] td`))),
		into(&req, chromedp.Evaluate[string](`document.querySelector('#signatures [data-request]').getAttribute('data-request')`)),
		into(&imgs, chromedp.Evaluate[int](`document.querySelectorAll('main img').length`)),
	)
	if !strings.Contains(name, hostile) || imgs != 0 {
		t.Fatalf("the recipient shows as %q with %d images; want the name as text", name, imgs)
	}

	// Resend queues a new link for the recipient.
	var flash string
	hosttest.Do(t, ctx, "resend",
		chromedp.Click(chromedp.CSS(`#signatures form.resend button`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		into(&flash, chromedp.Text(chromedp.CSS(`.flash`))),
	)
	if !strings.Contains(flash, "ada@example.com") || !strings.Contains(flash, "queued") {
		t.Fatalf("after Resend the page says %q", flash)
	}
	if keys := scheduledKeys(t, e.bus, "console-sign", "sign"); !hasPrefix(keys, "resend/"+req+"/") {
		t.Fatalf("Resend queued nothing; scheduled: %v", keys)
	}
	screenshot(t, ctx, shots, "signatures-1280.png")

	// Cancel, with a reason holding HTML; the confirm is accepted.
	reason := "sent by mistake " + hostile
	var status, shown string
	hosttest.Do(t, ctx, "cancel",
		chromedp.Navigate(item), // without the flash of the resend
		chromedp.WaitVisible(chromedp.CSS(`#reason-`+req)),
		chromedp.SetValue(chromedp.CSS(`#reason-`+req), reason),
		chromedp.Click(chromedp.CSS(`#signatures form.cancel-request button`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		into(&status, chromedp.Text(chromedp.CSS(`[data-field="request-status"]`))),
		into(&shown, chromedp.Text(chromedp.CSS(`[data-field="cancel-reason"]`))),
		into(&imgs, chromedp.Evaluate[int](`document.querySelectorAll('main img').length`)),
	)
	if status != "cancelled" || shown != reason || imgs != 0 {
		t.Fatalf("after Cancel: status %q, reason %q, %d images; want cancelled and the reason as text", status, shown, imgs)
	}
	var buttons int
	hosttest.Do(t, ctx, "no actions on a cancelled request", into(&buttons, chromedp.Evaluate[int](`document.querySelectorAll('#signatures form').length`)))
	if buttons != 0 {
		t.Fatalf("a cancelled request offers %d forms", buttons)
	}

	// The edit form: a refused value shows in the form as text; the fix is saved.
	var formError string
	hosttest.Do(t, ctx, "open the edit form",
		chromedp.Navigate(e.url+"/webhooks"),
		chromedp.Click(chromedp.CSS(`a[href="/webhooks/`+sub.ID+`/edit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#edit-url`)),
		chromedp.SetValue(chromedp.CSS(`#edit-desc`), "edited "+hostile),
		chromedp.SetValue(chromedp.CSS(`#edit-workflows`), hostile),
		chromedp.Click(chromedp.CSS(`form.edit-sub button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#form-error`)),
		into(&formError, chromedp.Text(chromedp.CSS(`#form-error`))),
		into(&imgs, chromedp.Evaluate[int](`document.querySelectorAll('main img').length`)),
	)
	if !strings.Contains(formError, `"<img" is not a workflow name`) || imgs != 0 {
		t.Fatalf("the form shows %q with %d images; want the store's refusal as text", formError, imgs)
	}
	screenshot(t, ctx, shots, "subscription-error-1280.png")
	var row string
	hosttest.Do(t, ctx, "save the fix",
		chromedp.SetValue(chromedp.CSS(`#edit-workflows`), "console-test"),
		chromedp.Click(chromedp.CSS(`form.edit-sub button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		into(&row, chromedp.Text(chromedp.CSS(`tr[data-sub="`+sub.ID+`"]`))),
		into(&imgs, chromedp.Evaluate[int](`document.querySelectorAll('main img').length`)),
	)
	if !strings.Contains(row, "edited "+hostile) || imgs != 0 {
		t.Fatalf("the subscription's row shows %q with %d images", row, imgs)
	}
	if got, err := e.subs.Get(e.ctx, sub.ID); err != nil || strings.Join(got.Workflows, ",") != "console-test" || got.Description != "edited "+hostile {
		t.Fatalf("stored after the edit: %+v %v", got, err)
	}

	// At phone width: an open request with its buttons, and the edit form.
	hosttest.Do(t, ctx, "phone width",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(e.url+"/runs/"+runID+"/items/2"),
		chromedp.WaitVisible(chromedp.CSS(`#signatures form.resend`)),
	)
	screenshot(t, ctx, shots, "signatures-390.png")
	var overflow, reachable bool
	hosttest.Do(t, ctx, "no sideways scroll",
		into(&overflow, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)),
		into(&reachable, chromedp.Evaluate[bool](`document.querySelector('#signatures form.resend button').getBoundingClientRect().right <= window.innerWidth`)),
	)
	if overflow || !reachable {
		t.Errorf("at 390 px the item page scrolls sideways (%v) or its Resend button is out of view (%v)", overflow, !reachable)
	}
	hosttest.Do(t, ctx, "edit form at phone width",
		chromedp.Navigate(e.url+"/webhooks/"+sub.ID+"/edit"),
		chromedp.WaitVisible(chromedp.CSS(`#edit-url`)),
		into(&overflow, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)),
	)
	screenshot(t, ctx, shots, "subscription-390.png")
	if overflow {
		t.Error("the edit form scrolls sideways at 390 px")
	}
	t.Logf("screenshots in %s", shots)
}
