package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/paperflow/paperflow/plugins/sdk/manifest"
)

// blockJSON is the block's manifest: its name, kind, description, events
// and the JSON Schema of its `with:`.
//
//go:embed block.json
var blockJSON []byte

// descriptor is what Describe reports.
var descriptor = manifest.MustParse(blockJSON, version)

// DefaultExpiry is how long a request stays open without expires_in.
const DefaultExpiry = 720 * time.Hour

// MinReminderInterval keeps a typo from mailing signers every second.
const MinReminderInterval = time.Minute

// config is the block's `with:`; per item it arrives with tags resolved.
type config struct {
	Documents   []string          `json:"documents"`
	Recipients  []recipientConfig `json:"recipients"`
	Subject     string            `json:"subject"`
	Message     string            `json:"message"`
	From        string            `json:"from"`
	ReplyTo     string            `json:"reply_to"`
	ExpiresIn   string            `json:"expires_in"`
	RemindEvery string            `json:"remind_every"`
	// SendCopy is whether the sealed PDFs are mailed to the recipients at
	// completion; nil means yes.
	SendCopy *bool `json:"send_copy"`
}

// sendCopy is send_copy with its default.
func (c config) sendCopy() bool { return c.SendCopy == nil || *c.SendCopy }

type recipientConfig struct {
	Email  string          `json:"email"`
	Name   string          `json:"name"`
	Order  json.RawMessage `json:"order"`
	Verify string          `json:"verify"`
	Fields []fieldConfig   `json:"fields"`
}

var dayPart = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?)d`)

// parseDuration reads Go durations plus days: "30d", "1d12h".
func parseDuration(s string) (time.Duration, error) {
	var err error
	expanded := dayPart.ReplaceAllStringFunc(s, func(m string) string {
		days, perr := strconv.ParseFloat(strings.TrimSuffix(m, "d"), 64)
		if perr != nil {
			err = perr
		}
		return strconv.FormatFloat(days*24, 'f', -1, 64) + "h"
	})
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(expanded)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write e.g. 720h or 30d)", s)
	}
	return d, nil
}

// durations returns expires_in (default DefaultExpiry) and remind_every
// (0: none), checked.
func (c config) durations() (expires, remind time.Duration, err error) {
	expires = DefaultExpiry
	if strings.TrimSpace(c.ExpiresIn) != "" {
		if expires, err = parseDuration(strings.TrimSpace(c.ExpiresIn)); err != nil {
			return 0, 0, fmt.Errorf("expires_in: %w", err)
		}
		if expires < time.Minute {
			return 0, 0, fmt.Errorf("expires_in: %s is too short: give the signers at least a minute", expires)
		}
	}
	if strings.TrimSpace(c.RemindEvery) != "" {
		if remind, err = parseDuration(strings.TrimSpace(c.RemindEvery)); err != nil {
			return 0, 0, fmt.Errorf("remind_every: %w", err)
		}
		if remind < MinReminderInterval {
			return 0, 0, fmt.Errorf("remind_every: %s is too often; at least %s", remind, MinReminderInterval)
		}
	}
	return expires, remind, nil
}

// signer is a recipient resolved for an item and checked.
type signer struct {
	Email  string
	Name   string
	Order  int
	Verify string
	Fields []fieldConfig
}

// signers checks the item's recipients: a valid address each, an order of
// 1 or more, no address twice.
func (c config) signers() ([]signer, error) {
	if len(c.Recipients) == 0 {
		return nil, errors.New("recipients: none given")
	}
	out := make([]signer, 0, len(c.Recipients))
	seen := map[string]bool{}
	for i, rc := range c.Recipients {
		where := fmt.Sprintf("recipients[%d]", i)
		email := strings.TrimSpace(rc.Email)
		if email == "" {
			return nil, fmt.Errorf("%s.email is empty for this item", where)
		}
		a, err := mail.ParseAddress(email)
		if err != nil || strings.ContainsAny(a.Address, " \t\r\n<>\"") {
			return nil, fmt.Errorf("%s.email %q is not an email address", where, email)
		}
		key := strings.ToLower(a.Address)
		if seen[key] {
			return nil, fmt.Errorf("%s.email %s is listed twice", where, a.Address)
		}
		seen[key] = true
		name := cleanText(rc.Name, 200)
		if name == "" {
			name = cleanText(a.Name, 200)
		}
		order, err := parseOrder(rc.Order)
		if err != nil {
			return nil, fmt.Errorf("%s.order: %w", where, err)
		}
		if err := checkFields(where, rc.Fields); err != nil {
			return nil, err
		}
		if v := strings.TrimSpace(rc.Verify); v != "" && v != verifyEmail {
			return nil, fmt.Errorf("%s.verify %q: the only way is email", where, rc.Verify)
		}
		out = append(out, signer{Email: a.Address, Name: name, Order: order, Verify: strings.TrimSpace(rc.Verify), Fields: rc.Fields})
	}
	return out, nil
}

func parseOrder(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 1, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if strings.TrimSpace(s) == "" {
			return 1, nil
		}
		raw = []byte(strings.TrimSpace(s))
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("%s is not a whole number from 1 to 1000", raw)
	}
	return n, nil
}

// cleanText makes item text safe to keep and show as one line: no control
// or bidi override characters, trimmed, at most max runes.
func cleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return s
}

// senders checks from and reply_to (either may be empty) and returns them
// formatted for the mail header.
func (c config) senders() (from, replyTo string, err error) {
	for _, f := range []struct {
		name string
		v    string
		dst  *string
	}{{"from", c.From, &from}, {"reply_to", c.ReplyTo, &replyTo}} {
		v := strings.TrimSpace(f.v)
		if v == "" {
			continue
		}
		a, err := mail.ParseAddress(v)
		if err != nil || strings.ContainsAny(v, "\r\n") {
			return "", "", fmt.Errorf("%s %q is not an email address", f.name, v)
		}
		*f.dst = a.String()
	}
	return from, replyTo, nil
}
