package console_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paperflow/paperflow/host/delivery"
)

// TestEditSubscription: the edit form shows a subscription's fields (its
// header values hidden), saves a change of every field, keeps a hidden
// header's value, and shows what the store refuses in the form, escaped.
func TestEditSubscription(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, desc := e.receiver.url+"/before", "before"
	sub, err := e.subs.Create(ctx, delivery.SubscriptionInput{URL: &u, Description: &desc, Headers: map[string]string{"X-Token": "s3cret-value"}})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t, testToken)
	edit := "/webhooks/" + sub.ID + "/edit"
	resp, page := get(t, c, e.url+edit)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("edit form: %s", resp.Status)
	}
	if strings.Contains(page, "s3cret-value") || !strings.Contains(page, "X-Token: "+delivery.HiddenHeader) {
		t.Fatal("the edit form shows a header's value, or not the header")
	}
	if !strings.Contains(page, delivery.HiddenHeader+" keeps the stored value") {
		t.Fatal("the edit form does not say what stands for a stored value")
	}
	if !strings.Contains(page, `value="`+u+`"`) {
		t.Fatal("the edit form does not show the URL")
	}
	all := func(v url.Values) url.Values {
		base := url.Values{"url": {e.receiver.url + "/after"}, "description": {"after " + hostile}, "events": {"EMAILS_CREATED", "DOCUMENTS_CREATED"},
			"workflows": {"console-test, other"}, "match": {"any"}, "conditions": {".data != null\n.metadata.item_id == \"1\""}, "headers": {"X-Token: (hidden)\nX-Other: two"}}
		for k, vs := range v {
			base[k] = vs
		}
		return base
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		error  string // shown in the form
	}{
		{"workflow name with markup", all(url.Values{"workflows": {hostile}}), http.StatusBadRequest, `workflows: "<img" is not a workflow name`},
		{"no event ticked", all(url.Values{"events": nil}), http.StatusBadRequest, "events: empty"},
		{"header line without a colon", all(url.Values{"headers": {"X-Token"}}), http.StatusBadRequest, "headers: line 1: write one header a line"},
		{"hidden value of a new header", all(url.Values{"headers": {"X-New: (hidden)"}}), http.StatusBadRequest, "headers: X-New: give its value"},
		{"condition that does not compile", all(url.Values{"conditions": {".data |||"}}), http.StatusBadRequest, "condition:"},
		{"URL that is not http", all(url.Values{"url": {"ftp://example.com/x"}}), http.StatusBadRequest, "url: want an absolute http:// or https:// URL"},
		{"every field changed", all(nil), http.StatusSeeOther, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postRaw(t, c, e.url, edit, edit, tc.form)
			if status != tc.status {
				t.Fatalf("status %d, want %d:\n%s", status, tc.status, body)
			}
			if tc.error == "" {
				return
			}
			if strings.Contains(body, "<img") {
				t.Fatal("a typed value went into the page as HTML")
			}
			if !strings.Contains(html.UnescapeString(body), tc.error) || !strings.Contains(body, `id="form-error"`) {
				t.Fatalf("the form does not show %q:\n%s", tc.error, body)
			}
			// What was typed is shown again, escaped.
			if !strings.Contains(body, html.EscapeString("after "+hostile)) {
				t.Fatal("the form lost the description typed")
			}
		})
	}
	got, err := e.subs.Get(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != e.receiver.url+"/after" || got.Description != "after "+hostile ||
		strings.Join(got.Events, ",") != "EMAILS_CREATED,DOCUMENTS_CREATED" || strings.Join(got.Workflows, ",") != "console-test,other" ||
		got.Condition == nil || len(got.Condition.Any) != 2 || got.Headers["X-Token"] != "s3cret-value" || got.Headers["X-Other"] != "two" {
		t.Fatalf("stored after the edit: %+v", got)
	}
	_, page = get(t, c, e.url+"/webhooks")
	if strings.Contains(page, "<img") || !strings.Contains(page, html.EscapeString("after "+hostile)) {
		t.Fatal("the webhooks page does not show the new description as text")
	}

	// Refused without the form's token, and to the read-only login.
	resp, err = c.PostForm(e.url+edit, all(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an edit without the CSRF token: %s, want 403", resp.Status)
	}
	ro := e.client(t, readOnlyToken)
	if resp, _ := get(t, ro, e.url+edit); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the read-only login opened the edit form: %s", resp.Status)
	}
	if resp, _ := get(t, c, e.url+"/webhooks/000000000000000000000000/edit"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("edit of no subscription: %s, want 404", resp.Status)
	}
}

// postRaw sends a form with the CSRF token read from page and returns the
// status and the answer as sent; it follows no redirect.
func postRaw(t *testing.T, c *http.Client, base, page, path string, form url.Values) (int, string) {
	t.Helper()
	_, body := get(t, c, base+page)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s: no CSRF token on the page", page)
	}
	form.Set("csrf", m[1])
	nc := noRedirectWith(c)
	resp, err := nc.PostForm(base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}
