package trigger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"

	"github.com/paperflow/paperflow/plugins/sdk"
)

// MaxItems is the most items one request may carry.
const MaxItems = 1000

// Documents stores uploaded files (the engine's document store).
type Documents interface {
	Put(ctx context.Context, name, mimetype string, data []byte) (sdk.Document, error)
}

// ParseItems reads a request body into items: a JSON object (one item), a
// JSON array of objects, NDJSON (one object a line), or a urlencoded or
// multipart form (one item; each uploaded file becomes a document and the
// field's value its {id, name, mimetype, url}).
func ParseItems(ctx context.Context, contentType string, body []byte, docs Documents) ([]json.RawMessage, error) {
	mt, params, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("form body: %w", err)
		}
		return one(formFields(vals, nil))
	case "multipart/form-data":
		return parseMultipart(ctx, body, params["boundary"], docs)
	case "application/x-ndjson", "application/jsonl", "application/x-jsonlines":
		return parseNDJSON(body)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("empty body: send a JSON object, an array of objects, NDJSON or a form")
	}
	switch trimmed[0] {
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, fmt.Errorf("JSON array: %w", err)
		}
		if len(list) > MaxItems {
			return nil, fmt.Errorf("%d items in one request, more than %d: send them in several", len(list), MaxItems)
		}
		for i, it := range list {
			if !isObject(it) {
				return nil, fmt.Errorf("item %d is not a JSON object: every item is an object of fields", i)
			}
		}
		return list, nil
	case '{':
		if json.Valid(trimmed) {
			return []json.RawMessage{trimmed}, nil
		}
		return parseNDJSON(trimmed)
	}
	return nil, errors.New("the body is not JSON: send a JSON object, an array of objects, NDJSON, or a form (Content-Type application/x-www-form-urlencoded or multipart/form-data)")
}

func parseNDJSON(body []byte) ([]json.RawMessage, error) {
	var out []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), len(body)+1)
	line := 0
	for sc.Scan() {
		line++
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		if !isObject(l) {
			return nil, fmt.Errorf("NDJSON line %d is not a JSON object", line)
		}
		out = append(out, append(json.RawMessage(nil), l...))
		if len(out) > MaxItems {
			return nil, fmt.Errorf("more than %d items in one request: send them in several", MaxItems)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("NDJSON: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("no items in the NDJSON body")
	}
	return out, nil
}

func isObject(raw []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// formFields makes one item of form values: one value a string, several a
// list; files add their documents.
func formFields(vals url.Values, files map[string][]sdk.Document) map[string]any {
	m := map[string]any{}
	for k, vs := range vals {
		if len(vs) == 1 {
			m[k] = vs[0]
		} else {
			m[k] = vs
		}
	}
	for k, ds := range files {
		docs := make([]map[string]any, len(ds))
		for i, d := range ds {
			docs[i] = map[string]any{"id": d.ID, "name": d.Name, "mimetype": d.Mimetype, "url": d.URL}
		}
		if len(docs) == 1 {
			m[k] = docs[0]
		} else {
			m[k] = docs
		}
	}
	return m
}

func one(m map[string]any) ([]json.RawMessage, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return []json.RawMessage{raw}, nil
}

// MaxFiles bounds the uploads of one form.
const MaxFiles = 20

func parseMultipart(ctx context.Context, body []byte, boundary string, docs Documents) ([]json.RawMessage, error) {
	if boundary == "" {
		return nil, errors.New("multipart body without a boundary in its Content-Type")
	}
	vals, files, err := ReadMultipart(ctx, multipart.NewReader(bytes.NewReader(body), boundary), docs)
	if err != nil {
		return nil, err
	}
	return one(formFields(vals, files))
}

// ReadMultipart reads a multipart form, storing each file as a document.
func ReadMultipart(ctx context.Context, mr *multipart.Reader, docs Documents) (url.Values, map[string][]sdk.Document, error) {
	vals := url.Values{}
	files := map[string][]sdk.Document{}
	n := 0
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return vals, files, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("multipart body: %w", err)
		}
		name := p.FormName()
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, fmt.Errorf("multipart body: %w", err)
		}
		if p.FileName() == "" {
			vals.Add(name, string(data))
			continue
		}
		if len(data) == 0 {
			continue // a file input left empty
		}
		if n++; n > MaxFiles {
			return nil, nil, fmt.Errorf("more than %d files in one request", MaxFiles)
		}
		if docs == nil {
			return nil, nil, errors.New("this host stores no uploaded files")
		}
		mt := p.Header.Get("Content-Type")
		if mt == "" || strings.HasPrefix(mt, "application/octet-stream") {
			mt = sniff(data)
		}
		d, err := docs.Put(ctx, p.FileName(), mt, data)
		if err != nil {
			return nil, nil, fmt.Errorf("store %s: %w", p.FileName(), err)
		}
		files[name] = append(files[name], d)
	}
}

func sniff(data []byte) string {
	if bytes.HasPrefix(data, []byte("%PDF-")) {
		return "application/pdf"
	}
	return "application/octet-stream"
}
