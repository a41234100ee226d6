package console

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/paperflow/paperflow/host/delivery"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/plugins/websend"
)

// hiddenValue stands for a header's value in the edit form, which never
// shows one (they often hold credentials): left as it is, the stored
// value is kept. It is what the subscriptions API shows in its place.
const hiddenValue = delivery.HiddenHeader

// subscriptionForm is the edit form of a subscription, as shown and as
// sent back.
type subscriptionForm struct {
	ID          string
	URL         string
	Description string
	Events      []string // chosen
	Types       []string // every event type
	Workflows   string   // names, separated by commas or spaces
	Known       []string // the workflows the host serves, as a hint
	Match       string   // all or any: how the conditions combine
	Conditions  string   // jq tests, one a line
	Headers     string   // "Name: value" lines
	Error       string
	Field       string // the field the error is about
}

// Hidden is what stands for a stored header value in the form.
func (subscriptionForm) Hidden() string { return hiddenValue }

func (c *Console) eventTypes() []string {
	out := make([]string, 0, len(events.Types))
	for _, t := range events.Types {
		out = append(out, string(t))
	}
	return out
}

// formOf fills the form from a stored subscription; header values stay
// hidden.
func (c *Console) formOf(sub delivery.Subscription) subscriptionForm {
	f := subscriptionForm{ID: sub.ID, URL: sub.URL, Description: sub.Description, Events: sub.Events,
		Workflows: strings.Join(sub.Workflows, ", "), Match: "all"}
	if cond := sub.Condition; cond != nil {
		switch {
		case len(cond.Any) > 0:
			f.Match, f.Conditions = "any", strings.Join(cond.Any, "\n")
		case len(cond.All) > 0:
			f.Conditions = strings.Join(cond.All, "\n")
		default: // Port's shape
			if strings.EqualFold(cond.Combinator, "or") {
				f.Match = "any"
			}
			f.Conditions = strings.Join(cond.Expressions, "\n")
		}
	}
	names := make([]string, 0, len(sub.Headers))
	for name := range sub.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f.Headers += name + ": " + hiddenValue + "\n"
	}
	return f
}

func (c *Console) renderSubscription(w http.ResponseWriter, r *http.Request, ss *session, status int, f subscriptionForm) {
	f.Types = c.eventTypes()
	for _, wf := range c.workflows() {
		f.Known = append(f.Known, wf.Name)
	}
	c.render(w, r, ss, status, "subscription", "Edit subscription", f)
}

// subscription reads the subscription the path names, answering the
// request itself when there is none.
func (c *Console) subscription(w http.ResponseWriter, r *http.Request, ss *session) (delivery.Subscription, bool) {
	if c.o.Subscriptions == nil {
		c.message(w, r, ss, http.StatusNotImplemented, "No subscriptions", "This host keeps no webhook subscriptions.")
		return delivery.Subscription{}, false
	}
	sub, err := c.o.Subscriptions.Get(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, delivery.ErrSubscriptionNotFound):
		c.message(w, r, ss, http.StatusNotFound, "No such subscription", "It may have been deleted meanwhile.")
		return sub, false
	case err != nil:
		c.fail(w, r, ss, "read the subscription", err)
		return sub, false
	}
	return sub, true
}

func (c *Console) editSubscriptionPage(w http.ResponseWriter, r *http.Request, ss *session) {
	if ss.readOnly {
		c.message(w, r, ss, http.StatusForbidden, "Read-only", "This session was opened with the read-only token: it can look, not act.")
		return
	}
	sub, ok := c.subscription(w, r, ss)
	if !ok {
		return
	}
	c.renderSubscription(w, r, ss, http.StatusOK, c.formOf(sub))
}

// editSubscription changes a subscription's URL, description, events,
// workflows, condition and headers; what the store refuses is shown in
// the form, with what was typed.
func (c *Console) editSubscription(w http.ResponseWriter, r *http.Request, ss *session) {
	sub, ok := c.subscription(w, r, ss)
	if !ok {
		return
	}
	f := subscriptionForm{
		ID: sub.ID, URL: strings.TrimSpace(r.PostFormValue("url")), Description: r.PostFormValue("description"),
		Events: r.PostForm["events"], Workflows: r.PostFormValue("workflows"), Match: r.PostFormValue("match"),
		Conditions: r.PostFormValue("conditions"), Headers: r.PostFormValue("headers"),
	}
	in, err := f.input(sub)
	if err == nil {
		_, err = c.o.Subscriptions.Update(r.Context(), sub.ID, in)
	}
	var invalid *delivery.InvalidError
	switch {
	case errors.As(err, &invalid):
		f.Error, f.Field = invalid.Error(), invalid.Field
		c.renderSubscription(w, r, ss, http.StatusBadRequest, f)
		return
	case errors.Is(err, delivery.ErrSubscriptionNotFound):
		c.message(w, r, ss, http.StatusNotFound, "No such subscription", "It was deleted meanwhile.")
		return
	case err != nil:
		c.fail(w, r, ss, "change the subscription", err)
		return
	}
	c.log.Info("console: subscription changed", "subscription", sub.ID)
	http.Redirect(w, r, withFlash("/webhooks", "Subscription changed."), http.StatusSeeOther)
}

// input turns the form into a change of every field it shows; headers
// left hidden keep their stored value.
func (f subscriptionForm) input(stored delivery.Subscription) (delivery.SubscriptionInput, error) {
	in := delivery.SubscriptionInput{URL: &f.URL, Description: &f.Description, Events: f.Events}
	if in.Events == nil {
		in.Events = []string{} // none ticked: the store says what is wrong
	}
	in.Workflows = strings.FieldsFunc(f.Workflows, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if in.Workflows == nil {
		in.Workflows = []string{} // every workflow
	}
	var tests []string
	for _, line := range strings.Split(f.Conditions, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			tests = append(tests, line)
		}
	}
	in.Condition = &websend.Condition{} // none: removed
	switch {
	case len(tests) == 0:
	case f.Match == "any":
		in.Condition.Any = tests
	case f.Match == "all" || f.Match == "":
		in.Condition.All = tests
	default:
		return in, &delivery.InvalidError{Field: "condition", Msg: "choose whether all or any of the tests must hold"}
	}
	in.Headers = map[string]string{}
	for i, line := range strings.Split(f.Headers, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return in, &delivery.InvalidError{Field: "headers", Msg: fmt.Sprintf("line %d: write one header a line, as Name: value", i+1)}
		}
		if value == hiddenValue {
			old, kept := stored.Headers[name]
			if !kept {
				return in, &delivery.InvalidError{Field: "headers", Msg: fmt.Sprintf("%s: give its value (%s stands for a value already stored)", name, hiddenValue)}
			}
			value = old
		}
		if value == "" {
			return in, &delivery.InvalidError{Field: "headers", Msg: fmt.Sprintf("%s: give it a value, or remove the line", name)}
		}
		in.Headers[name] = value
	}
	return in, nil
}
