package main

import (
	"bytes"
	"fmt"
	"strings"
)

// goStruct is a payload type made from an object schema.
type goStruct struct {
	Name, Doc string
	Fields    []goField
	Consts    [][2]string // name, value: the enum values of its string fields
}

type goField struct {
	Name, Type, Key, Doc string
	Optional             bool
}

// payloads turns the data schemas of the event types into Go types. Shapes
// from the envelope's $defs become one named type each (Document,
// Recipient); an inline object is named by its title, else by where it is.
type payloads struct {
	defs    *object
	structs []*goStruct
	named   map[string]bool
	rawJSON bool
}

func sdkSource(types []eventType, defs *object) ([]byte, error) {
	p := &payloads{defs: defs, named: map[string]bool{}}
	for _, t := range types {
		if _, err := p.structOf(t.Data, t.Go+"Data", t.Go+"Data is the data of "+t.Name+": "+lowerFirst(t.Doc)); err != nil {
			return nil, fmt.Errorf("%s: data: %w", t.File, err)
		}
	}
	var b bytes.Buffer
	b.WriteString(header + "package events\n\n")
	if p.rawJSON {
		b.WriteString("import \"encoding/json\"\n\n")
	}
	typeList{
		constDoc: "// The event types, one per schema in the repository's schemas/events.\n",
		typesDoc: "// Types lists every event type, in the order an item usually meets them.\n// Treat it as read-only.\n",
		mainDoc:  "// MainTypes are the main event types: what a webhook sends when it names\n// none. Treat it as read-only.\n",
		elem:     "string",
	}.write(&b, types)
	for _, s := range p.structs {
		comment(&b, "", s.Doc)
		fmt.Fprintf(&b, "type %s struct {\n", s.Name)
		for _, f := range s.Fields {
			if f.Doc != "" {
				comment(&b, "\t", f.Doc)
			}
			tag := f.Key
			if f.Optional {
				tag += ",omitempty"
			}
			fmt.Fprintf(&b, "\t%s %s `json:%q`\n", f.Name, f.Type, tag)
		}
		b.WriteString("}\n\n")
		if len(s.Consts) > 0 {
			fmt.Fprintf(&b, "// Values of %s's enumerated fields.\nconst (\n", s.Name)
			for _, c := range s.Consts {
				fmt.Fprintf(&b, "\t%s = %q\n", c[0], c[1])
			}
			b.WriteString(")\n\n")
		}
	}
	for _, t := range types {
		fmt.Fprintf(&b, "// EventType is %s.\nfunc (%sData) EventType() string { return %s }\n\n", t.Name, t.Go, t.Go)
	}
	return gofmt(sdkFile, b.Bytes())
}

// structOf adds the struct for object schema s under name (or its title).
func (p *payloads) structOf(s *object, name, doc string) (string, error) {
	if t := s.str("title"); t != "" {
		name = goName(t)
	}
	if p.named[name] {
		return name, nil
	}
	p.named[name] = true
	if d := s.str("description"); d != "" && !strings.HasPrefix(doc, name) {
		doc = name + ": " + lowerFirst(d)
	}
	if doc == "" {
		doc = name + " is part of an event's data."
	}
	st := &goStruct{Name: name, Doc: doc}
	p.structs = append(p.structs, st)
	required := map[string]bool{}
	for _, k := range s.strings("required") {
		required[k] = true
	}
	props := s.obj("properties")
	if props == nil {
		return "", fmt.Errorf("%s: an object without properties", name)
	}
	for _, k := range props.keys {
		ps := props.obj(k)
		if ps == nil {
			continue // false: the key may not appear
		}
		fn := goName(k)
		typ, err := p.typeOf(ps, name+fn)
		if err != nil {
			return "", fmt.Errorf("%s: %w", k, err)
		}
		st.Fields = append(st.Fields, goField{Name: fn, Type: typ, Key: k, Doc: ps.str("description"), Optional: !required[k]})
		for _, v := range ps.strings("enum") {
			st.Consts = append(st.Consts, [2]string{name + fn + goName(strings.ToLower(v)), v})
		}
	}
	return name, nil
}

// typeOf is the Go type of schema s; name is used if s needs a new struct.
func (p *payloads) typeOf(s *object, name string) (string, error) {
	if ref := s.str("$ref"); ref != "" {
		// From an event schema the envelope's shapes are envelope.json#/$defs/…;
		// from within the envelope, #/$defs/….
		const prefix = "envelope.json#/$defs/"
		key, ok := strings.CutPrefix(strings.TrimPrefix(ref, "envelope.json"), "#/$defs/")
		def := p.defs.obj(key)
		if !ok || def == nil {
			return "", fmt.Errorf("$ref %q: want %s<name> of a shape the envelope defines", ref, prefix)
		}
		if def.str("type") == "object" {
			return p.structOf(def, goName(key), "")
		}
		return p.typeOf(def, goName(key))
	}
	if _, several := s.get("type").([]any); several {
		p.rawJSON = true
		return "json.RawMessage", nil
	}
	switch s.str("type") {
	case "object":
		if s.obj("properties") == nil {
			return "map[string]any", nil
		}
		return p.structOf(s, name, "")
	case "array":
		items := s.obj("items")
		if items == nil {
			return "[]any", nil
		}
		elem, err := p.typeOf(items, strings.TrimSuffix(name, "s"))
		return "[]" + elem, err
	case "string":
		return "string", nil
	case "integer":
		return "int", nil
	case "number":
		return "float64", nil
	case "boolean":
		return "bool", nil
	case "":
		if _, ok := s.get("const").(string); ok || len(s.strings("enum")) > 0 {
			return "string", nil
		}
	}
	return "any", nil
}
