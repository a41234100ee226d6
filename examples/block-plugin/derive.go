package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/manifest"
)

// version is reported by Describe: a release of the block changes it.
const version = "0.1.0"

// blockJSON is the block's manifest: its name, kind, description and the
// JSON Schema of its `with:`, which the host checks `with:` against before
// Configure. Editors check the schema as JSON while it is written.
//
//go:embed block.json
var blockJSON []byte

// descriptor is what Describe reports.
var descriptor = manifest.MustParse(blockJSON, version)

// config is the block's `with:`. Per item it arrives with its tags
// resolved (Item.RawConfig); Configure sees it with the tags as written.
type config struct {
	Fields map[string]any `json:"fields"`
	Upper  []string       `json:"upper"`
	Slug   []string       `json:"slug"`
}

// Derive is the block. It keeps nothing between calls but its
// configuration: a block process may be restarted at any time.
type Derive struct {
	with json.RawMessage
}

// The interface guard: Derive is a step.
var _ sdk.Step = (*Derive)(nil)

// Describe implements sdk.Block: block.json and version.
func (*Derive) Describe() sdk.Descriptor { return descriptor }

// Configure implements sdk.Block. It refuses what the schema cannot say:
// a field both upper-cased and slugged.
func (d *Derive) Configure(_ context.Context, c sdk.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	for _, name := range cfg.Upper {
		for _, s := range cfg.Slug {
			if name == s {
				return fmt.Errorf("derive: %q is in both upper and slug: a field gets one of them; derive a second field to have both", name)
			}
		}
	}
	d.with = c.With
	return nil
}

// Process implements sdk.Step: one Result per item, in order. A problem
// with one item is that item's error and leaves the others alone.
func (d *Derive) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	results := make([]sdk.Result, len(items))
	for i, it := range items {
		outputs, err := d.derive(it)
		results[i] = sdk.Result{Outputs: outputs, Err: err}
	}
	return results
}

// derive computes one item's outputs.
func (d *Derive) derive(it sdk.Item) (map[string]any, error) {
	var cfg config
	if err := it.DecodeConfig(d.with, &cfg); err != nil {
		return nil, err
	}
	outputs := make(map[string]any, len(cfg.Fields)+len(cfg.Upper)+len(cfg.Slug))
	for name, v := range cfg.Fields {
		outputs[name] = v // already resolved by the host: data, never evaluated here
	}
	var fields map[string]any // the item's own fields, decoded only if needed
	transform := func(option string, names []string, f func(string) string) error {
		for _, name := range names {
			v, ok := outputs[name]
			if !ok {
				if fields == nil {
					var err error
					if fields, err = it.Fields(); err != nil {
						return err
					}
				}
				if v, ok = fields[name]; !ok {
					return fmt.Errorf("derive: %s: %q is neither in fields nor a field of item %s", option, name, it.Origin)
				}
			}
			s, err := text(v)
			if err != nil {
				return fmt.Errorf("derive: %s: field %q %w", option, name, err)
			}
			outputs[name] = f(s)
		}
		return nil
	}
	if err := transform("upper", cfg.Upper, strings.ToUpper); err != nil {
		return nil, err
	}
	if err := transform("slug", cfg.Slug, slug); err != nil {
		return nil, err
	}
	return outputs, nil
}

// text turns a scalar JSON value into text.
func text(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case nil:
		return "", nil
	case json.Number:
		return v.String(), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", errors.New("is a list or an object, not text")
}

// slug lower-cases s and joins its runs of letters and digits with single
// dashes. Letters stay as they are (ø, ł, ü): slugs are for URLs and file
// names, where UTF-8 is fine, and folding them to ASCII would need tables
// this example does not carry.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(unicode.ToLower(r))
			dash = false
			continue
		}
		dash = true
	}
	return b.String()
}
