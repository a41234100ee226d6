package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/paperflow/paperflow/plugins/sdk/manifest"
)

// blockJSON is the block's manifest: its name, kind, description, events
// and the JSON Schema of its `with:`.
//
//go:embed block.json
var blockJSON []byte

// descriptor is what Describe reports.
var descriptor = manifest.MustParse(blockJSON, version)

// config is the block's `with:`. Per item it arrives with its tags
// resolved by the host (Item.RawConfig); Configure sees it as written.
type config struct {
	To           addressList `json:"to"`
	Cc           addressList `json:"cc"`
	Bcc          addressList `json:"bcc"`
	ReplyTo      string      `json:"reply_to"`
	From         string      `json:"from"`
	Subject      string      `json:"subject"`
	Text         string      `json:"text"`
	HTML         string      `json:"html"`
	HTMLTemplate string      `json:"html_template"`
	Attach       []string    `json:"attach"`
	When         *when       `json:"when"`
}

// when holds the send rules: All or Any, not both.
type when struct {
	All []ruleConfig `json:"all"`
	Any []ruleConfig `json:"any"`
}

// ruleConfig is one send rule as written.
type ruleConfig struct {
	Field string `json:"field"`
	Op    string `json:"op"`
	// Value is kept as written: "1.50" stays 1.50, not 1.5.
	Value json.RawMessage `json:"value"`
}

// rules returns the rule list and whether any one rule suffices.
func (w *when) rules() (list []ruleConfig, anyOf bool) {
	if len(w.Any) > 0 {
		return w.Any, true
	}
	return w.All, false
}

// addressList is the value of an address field in `with:`: a string, a
// {list: string} or a list of those.
type addressList []addressEntry

// addressEntry is one string of an address field. List marks {list: ...}:
// its whole value, item values included, is a comma-separated list.
type addressEntry struct {
	Text string
	List bool
}

func (a *addressList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*a = nil
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var l []addressEntry
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*a = l
		return nil
	}
	var e addressEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return err
	}
	*a = addressList{e}
	return nil
}

func (e *addressEntry) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		e.List = false
		return json.Unmarshal(b, &e.Text)
	}
	var l struct {
		List *string `json:"list"`
	}
	if err := json.Unmarshal(b, &l); err != nil || l.List == nil {
		return fmt.Errorf("want an address, {list: \"{{Field}}\"} or a list of those")
	}
	e.Text, e.List = *l.List, true
	return nil
}

// text renders a rule value as text for comparison.
func valueText(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}
