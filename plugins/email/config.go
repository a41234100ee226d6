package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// configSchema is the JSON Schema of the block's `with:`: the host checks
// `with:` against it before Configure, and shows it in `paperflow plugins`
// and editors.
var configSchema = json.RawMessage(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["to", "subject"],
  "properties": {
    "to": {"$ref": "#/$defs/addresses", "description": "Recipients: an address (\"{{Email}}\", \"Ada Lovelace <ada@example.com>\", \"{{Name}} <{{Email}}>\"), or a list of those. Addresses written in the file may be a comma-separated list; a value a tag inserts is one address, and an item whose value holds several fails. For a field that holds a list, write {list: \"{{Emails}}\"}."},
    "cc": {"$ref": "#/$defs/addresses", "description": "Copy recipients, as for to. An entry that is empty for an item is left out."},
    "bcc": {"$ref": "#/$defs/addresses", "description": "Blind copy recipients, as for to: in the SMTP envelope only, never in a header."},
    "reply_to": {"type": "string", "description": "The Reply-To address."},
    "from": {"type": "string", "description": "The From address; default: the host's (--smtp ...?from=, else noreply@ the public host name)."},
    "subject": {"type": "string", "description": "The subject; tags allowed, e.g. \"Invoice {{Number}}\"."},
    "text": {"type": "string", "description": "The plain-text body; tags allowed."},
    "html": {"type": "string", "description": "The HTML body. Tags are filled in by the host WITHOUT HTML escaping: a field holding <b> or & comes out as markup. For item values in HTML use html_template, which escapes them."},
    "html_template": {"type": "string", "format": "file-path", "minLength": 1, "description": "An HTML file (relative to the workflow file) rendered by the block for each item with the tag language; every value a tag inserts is HTML-escaped. Use instead of html."},
    "attach": {
      "type": "array", "uniqueItems": true,
      "items": {"type": "string", "format": "block-ref", "minLength": 1},
      "description": "What is attached: ids of earlier blocks whose documents (for this item) are attached, e.g. [invoice], and fields holding uploaded files, written as a tag, e.g. \"{{cv}}\" (a form's file field, or a document the items API stored). A field left empty attaches nothing."
    },
    "when": {
      "type": "object", "additionalProperties": false, "minProperties": 1, "maxProperties": 1,
      "description": "Send rules: all (every rule holds) or any (at least one holds). An item whose rules fail is skipped, not failed.",
      "properties": {
        "all": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule"}},
        "any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule"}}
      }
    }
  },
  "$defs": {
    "addresses": {
      "oneOf": [
        {"type": "string", "minLength": 1},
        {"$ref": "#/$defs/list"},
        {"type": "array", "minItems": 1, "items": {"oneOf": [{"type": "string"}, {"$ref": "#/$defs/list"}]}}
      ]
    },
    "list": {
      "type": "object", "additionalProperties": false, "required": ["list"],
      "properties": {"list": {"type": "string", "minLength": 1, "description": "A value holding a comma-separated list of addresses, e.g. \"{{Watchers}}\": every address in it receives the message."}}
    },
    "rule": {
      "type": "object", "additionalProperties": false, "required": ["field", "op"],
      "properties": {
        "field": {"type": "string", "minLength": 1, "pattern": "^[^{}]+$", "description": "An item field, written without braces: Country, customer.address.city, blocks.check.status."},
        "op": {"enum": ["equals", "not_equals", "contains", "not_contains", "is_empty", "is_not_empty"], "description": "Comparisons ignore letter case and surrounding spaces; numbers compare as numbers (1.0 equals 1)."},
        "value": {"type": ["string", "number", "boolean"], "description": "What the field is compared with; tags allowed."}
      },
      "if": {"properties": {"op": {"enum": ["equals", "not_equals", "contains", "not_contains"]}}},
      "then": {"required": ["value"]}
    }
  }
}`)

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
