// Command gen makes every list of event types in the repository from the
// schema files in schemas/events, so that adding an event type is adding one
// schema file and running go generate:
//
//   - host/events/types_gen.go: the host's Type constants, Types and MainTypes;
//   - plugins/sdk/events/events_gen.go: the SDK's constants and typed payloads
//     (the SDK module cannot import the root module's schemas);
//   - the eventType enum of schemas/events/envelope.json;
//   - the SDK conformance suite's copy of the schemas;
//   - the webhook block's manifest (plugins/webhook/block.json): the events it
//     accepts and the enum of its events: and bodies: options.
//
// An event schema may carry "x-paperflow": {"order": n, "main": true}: order
// places the type in Types (types without one come last, by name) and main
// puts it among the types a webhook sends when it names none.
//
// Usage (from host/events, as its go:generate line does): go run ./internal/gen -root ../..
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// The files gen writes, relative to the repository root.
const (
	schemaDir     = "schemas/events"
	envelopeFile  = "schemas/events/envelope.json"
	hostFile      = "host/events/types_gen.go"
	sdkFile       = "plugins/sdk/events/events_gen.go"
	conformCopies = "plugins/sdk/conformance/schemas/events"
	webhookFile   = "plugins/webhook/block.json"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	flag.Parse()
	files, err := generate(*root)
	if err != nil {
		slog.Error("event types not generated", "err", err)
		os.Exit(1)
	}
	if err := write(*root, files); err != nil {
		slog.Error("event types not written", "err", err)
		os.Exit(1)
	}
}

// write puts files (paths relative to root) under root, and removes the
// conformance copies of schemas that no longer exist.
func write(root string, files map[string][]byte) error {
	old, _ := filepath.Glob(filepath.Join(root, conformCopies, "*.json"))
	for _, f := range old {
		rel, _ := filepath.Rel(root, f)
		if _, keep := files[filepath.ToSlash(rel)]; !keep {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for rel, b := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, b) {
			continue
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// eventType is one schemas/events/<name>.json.
type eventType struct {
	Name  string // DOCUMENTS_CREATED
	Go    string // DocumentsCreated
	Doc   string // the schema's description
	File  string // documents_created.json
	Order float64
	Main  bool
	Data  *object
}

// generate reads the schemas under root and returns every generated file by
// its path relative to root.
func generate(root string) (map[string][]byte, error) {
	dir := filepath.Join(root, schemaDir)
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	raw := map[string][]byte{}
	var types []eventType
	var envelope *object
	for _, p := range names {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		base := filepath.Base(p)
		raw[base] = b
		o, err := parseObject(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if base == "envelope.json" {
			envelope = o
			continue
		}
		t, err := readType(base, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		types = append(types, t)
	}
	if envelope == nil {
		return nil, fmt.Errorf("%s: no envelope.json", dir)
	}
	slices.SortFunc(types, func(a, b eventType) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), strings.Compare(a.Name, b.Name))
	})

	out := map[string][]byte{}
	env, err := rewriteEnum(raw["envelope.json"], types)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envelopeFile, err)
	}
	raw["envelope.json"] = env
	out[envelopeFile] = env
	for base, b := range raw {
		out[conformCopies+"/"+base] = b
	}
	manifest, err := os.ReadFile(filepath.Join(root, webhookFile))
	if err != nil {
		return nil, err
	}
	if out[webhookFile], err = rewriteWebhookManifest(manifest, types); err != nil {
		return nil, fmt.Errorf("%s: %w", webhookFile, err)
	}
	if out[hostFile], err = hostSource(types); err != nil {
		return nil, err
	}
	if out[sdkFile], err = sdkSource(types, envelope.obj("$defs")); err != nil {
		return nil, err
	}
	return out, nil
}

// readType checks that a schema names its type consistently (title,
// eventType const, file name) and reads its annotations.
func readType(base string, o *object) (eventType, error) {
	name := o.str("title")
	t := eventType{Name: name, Go: goName(strings.ToLower(name)), Doc: o.str("description"), File: base, Order: math.Inf(1)}
	if name == "" || strings.ToUpper(name) != name {
		return t, fmt.Errorf("title %q: want the event type in upper case, e.g. DOCUMENTS_CREATED", name)
	}
	if want := strings.ToLower(name) + ".json"; base != want {
		return t, fmt.Errorf("an event of type %s is described by %s, not %s", name, want, base)
	}
	props := o.obj("properties")
	if props == nil || props.obj("eventType") == nil || props.obj("eventType").str("const") != name {
		return t, fmt.Errorf(`properties.eventType: want {"const": %q}`, name)
	}
	if t.Data = props.obj("data"); t.Data == nil {
		return t, fmt.Errorf("properties.data: missing")
	}
	if ann := o.obj("x-paperflow"); ann != nil {
		if n, ok := ann.get("order").(json.Number); ok {
			f, err := n.Float64()
			if err != nil {
				return t, fmt.Errorf("x-paperflow.order: %w", err)
			}
			t.Order = f
		}
		t.Main, _ = ann.get("main").(bool)
	}
	return t, nil
}

// rewriteEnum replaces the eventType enum of envelope.json with the types,
// keeping the rest of the file byte for byte.
func rewriteEnum(env []byte, types []eventType) ([]byte, error) {
	return rewriteList(env, `"eventType": {`, `"enum": [`, types)
}

// rewriteWebhookManifest writes the types into the webhook block's
// manifest: the events it accepts, and the eventType enum its config
// schema's events: and bodies: refer to. A webhook takes every type.
func rewriteWebhookManifest(manifest []byte, types []eventType) ([]byte, error) {
	out, err := rewriteList(manifest, `"kind"`, `"events": [`, types)
	if err != nil {
		return nil, err
	}
	return rewriteList(out, `"eventType": {`, `"enum": [`, types)
}

// rewriteList replaces the first list opened by open after anchor with the
// type names, one a line, keeping the rest of the file byte for byte.
func rewriteList(file []byte, anchor, open string, types []eventType) ([]byte, error) {
	s := string(file)
	at := strings.Index(s, anchor)
	if at < 0 {
		return nil, fmt.Errorf("no %s", anchor)
	}
	start := strings.Index(s[at:], open)
	if start < 0 {
		return nil, fmt.Errorf("no %s after %s", open, anchor)
	}
	start += at + len(open)
	end := strings.Index(s[start:], "]")
	if end < 0 {
		return nil, fmt.Errorf("the list %s after %s is not closed", open, anchor)
	}
	end += start
	line := s[strings.LastIndex(s[:start], "\n")+1 : start]
	indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
	var b strings.Builder
	for i, t := range types {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n%s  %q", indent, t.Name)
	}
	b.WriteString("\n" + indent)
	out := s[:start] + b.String() + s[end:]
	if !json.Valid([]byte(out)) {
		return nil, fmt.Errorf("the rewritten list %s after %s is not valid JSON", open, anchor)
	}
	return []byte(out), nil
}

const header = "// Code generated by host/events/internal/gen from schemas/events; DO NOT EDIT.\n\n"

func hostSource(types []eventType) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header + "package events\n\n")
	typeList{
		constDoc:  "// The event types, one per schema in schemas/events named after it in lower\n// case (DOCUMENTS_CREATED → documents_created.json).\n",
		constType: "Type",
		typesDoc:  "// Types lists every event type, in the order an item usually meets them, so\n// that commands and subscription checks can enumerate them without repeating\n// the list. Treat it as read-only.\n",
		mainDoc:   "// MainTypes are the main event types: what a webhook or a subscription sends\n// when it names none, and what a run's summary counts. Treat it as read-only.\n",
		elem:      "Type",
	}.write(&b, types)
	return gofmt(hostFile, b.Bytes())
}

// typeList is how a generated events package declares the event types: a
// constant each, then the lists Types and MainTypes. The host's package and
// the SDK's declare the same names; only their types and comments differ.
type typeList struct {
	constDoc, typesDoc, mainDoc string
	// constType is the constants' type; "" leaves them untyped.
	constType string
	// elem is the lists' element type.
	elem string
}

func (l typeList) write(b *bytes.Buffer, types []eventType) {
	b.WriteString(l.constDoc + "const (\n")
	for _, t := range types {
		comment(b, "\t", t.Go+" ("+t.Name+"): "+lowerFirst(t.Doc))
		name := t.Go
		if l.constType != "" {
			name += " " + l.constType
		}
		fmt.Fprintf(b, "\t%s = %q\n", name, t.Name)
	}
	b.WriteString(")\n\n")
	b.WriteString(l.typesDoc)
	l.list(b, "Types", types, func(eventType) bool { return true })
	b.WriteString(l.mainDoc)
	l.list(b, "MainTypes", types, func(t eventType) bool { return t.Main })
}

func (l typeList) list(b *bytes.Buffer, name string, types []eventType, keep func(eventType) bool) {
	fmt.Fprintf(b, "var %s = []%s{", name, l.elem)
	n := 0
	for _, t := range types {
		if keep(t) {
			if n > 0 {
				b.WriteString(", ")
			}
			b.WriteString(t.Go)
			n++
		}
	}
	b.WriteString("}\n\n")
}

func gofmt(name string, src []byte) ([]byte, error) {
	out, err := format.Source(src)
	if err != nil {
		return nil, fmt.Errorf("%s: generated source does not parse: %w\n%s", name, err, src)
	}
	return out, nil
}

// comment writes text as a line comment wrapped at about 78 columns.
func comment(b *bytes.Buffer, indent, text string) {
	line := indent + "//"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 78 && line != indent+"//" {
			b.WriteString(line + "\n")
			line = indent + "//"
		}
		line += " " + w
	}
	b.WriteString(line + "\n")
}

// lowerFirst lets a sentence continue a comment, leaving acronyms alone.
func lowerFirst(s string) string {
	if s == "" || (len(s) > 1 && unicode.IsUpper(rune(s[1]))) {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// initialisms are the words Go spells in capitals.
var initialisms = map[string]bool{"id": true, "url": true, "uri": true, "ip": true, "http": true, "json": true, "html": true, "pdf": true}

// goName turns snake_case (or a title) into an exported Go name.
func goName(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == '-' || r == ' ' || r == '.' }) {
		lw := strings.ToLower(w)
		if initialisms[lw] {
			b.WriteString(strings.ToUpper(lw))
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}
