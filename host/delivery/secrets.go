package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/paperflow/paperflow/plugins/sdk/jsonvalue"
	"github.com/paperflow/paperflow/plugins/sdk/tags"
)

// ResolveSecrets prepares a sink's `with:` for its block: every
// {{ .secrets.NAME }} is replaced by the secret's value, and every other tag
// is left as written, for the sink to render against each event (a sink sees
// events, not items, so the host has nothing else to resolve them with). A
// value that contains "{{" is written as {{"{{"}}…, so the sink's own
// rendering gives it back unchanged and never reads it as a tag.
//
// Errors name the place in with and the secret, never a value.
func ResolveSecrets(with []byte, lookup func(name string) (string, bool)) ([]byte, error) {
	if len(with) == 0 {
		return with, nil
	}
	dec := json.NewDecoder(bytes.NewReader(with))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("with: %w", err)
	}
	v, err := resolveValue(v, "with", lookup)
	if err != nil {
		return nil, err
	}
	return jsonvalue.Marshal(v)
}

func resolveValue(v any, where string, lookup func(string) (string, bool)) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, item := range x {
			r, err := resolveValue(item, where+"."+k, lookup)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	case []any:
		for i, item := range x {
			r, err := resolveValue(item, where+"["+strconv.Itoa(i)+"]", lookup)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	case string:
		if tags.HasTags(x) {
			return resolveString(x, where, lookup)
		}
	}
	return v, nil
}

func resolveString(src, where string, lookup func(string) (string, bool)) (string, error) {
	t, err := tags.Parse(src)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	refs := t.Refs()
	slices.SortFunc(refs, func(a, b tags.Ref) int { return b.Offset - a.Offset }) // splice from the end
	for _, r := range refs {
		if r.Kind != tags.RefSecret {
			continue
		}
		if r.Offset+len(r.Tag) > len(src) || src[r.Offset:r.Offset+len(r.Tag)] != r.Tag {
			return "", fmt.Errorf("%s: %s: cannot place this secret", where, r.Tag)
		}
		one, err := tags.Parse(r.Tag)
		if err != nil {
			return "", fmt.Errorf("%s: %s: in a sink's configuration a secret must be a tag of its own, such as {{ .secrets.%s }}", where, r.Tag, r.Path)
		}
		value, err := one.Render(tags.Scope{Secrets: lookup})
		if err != nil {
			var unknown *tags.UnknownRefError
			if errors.As(err, &unknown) {
				return "", fmt.Errorf("%s: secret %q is not set: set PAPERFLOW_SECRET_%s or add it to the secrets file", where, r.Path, r.Path)
			}
			return "", fmt.Errorf("%s: %s: cannot render", where, r.Tag)
		}
		src = src[:r.Offset] + strings.ReplaceAll(value, "{{", `{{"{{"}}`) + src[r.Offset+len(r.Tag):]
	}
	return src, nil
}
