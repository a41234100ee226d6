package console

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/paperflow/paperflow/host/engine"
)

// uploadRun starts a run of a loaded workflow on an uploaded file: the
// file is kept under UploadDir, and a copy of the workflow file whose
// source reads it is written beside the original (so every other relative
// path in it still resolves), then started as the API starts a file.
func (c *Console) uploadRun(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("name")
	wf, ok := c.workflow(name)
	if !ok {
		c.message(w, r, ss, http.StatusNotFound, "No such workflow", "This host does not serve a workflow named "+name+".")
		return
	}
	if c.o.Starter == nil || c.o.UploadDir == "" {
		c.message(w, r, ss, http.StatusNotImplemented, "Cannot start runs", "This host takes no uploads.")
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		c.message(w, r, ss, http.StatusBadRequest, "No file", "Choose a CSV or JSON file to upload.")
		return
	}
	defer f.Close()
	ext := strings.ToLower(filepath.Ext(hdr.Filename))
	allowed := map[string][]string{"csv": {".csv"}, "json": {".json", ".ndjson", ".jsonl"}}[wf.Source.Uses]
	if !contains(allowed, ext) {
		c.message(w, r, ss, http.StatusBadRequest, "Wrong kind of file",
			fmt.Sprintf("Workflow %s reads its items with the %s block: upload a file ending in %s.", wf.Name, wf.Source.Uses, strings.Join(allowed, " or ")))
		return
	}
	stamp := engine.NewRunID()
	dir := filepath.Join(c.o.UploadDir, stamp)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.fail(w, r, ss, "keep the upload", err)
		return
	}
	// The upload keeps its name, so errors point at people.csv:4.
	dst := filepath.Join(dir, cleanName(hdr.Filename, ext))
	if err := writeFrom(dst, f); err != nil {
		c.fail(w, r, ss, "keep the upload", err)
		return
	}
	file, err := deriveWorkflow(wf.File, dst, stamp)
	if err != nil {
		c.fail(w, r, ss, "prepare the run", err)
		return
	}
	id, err := c.o.Starter.StartRun(r.Context(), file, "")
	if err != nil {
		c.fail(w, r, ss, "start the run", err)
		return
	}
	c.log.Info("console: run started from an upload", "workflow", wf.Name, "run", id, "file", dst, "bytes", hdr.Size)
	http.Redirect(w, r, "/runs/"+url.PathEscape(id), http.StatusSeeOther)
}

// cleanName keeps the letters, digits, dots, dashes and underscores of an
// uploaded file's base name.
func cleanName(name, ext string) string {
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, filepath.Base(strings.ReplaceAll(name, "\\", "/")))
	if strings.Trim(base, "._") == "" || len(base) > 100 {
		base = "items" + ext
	}
	return base
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func writeFrom(path string, r io.Reader) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return out.Close()
}

// deriveWorkflow writes a copy of the workflow file whose source's `path`
// is data, next to the original, and returns its path.
func deriveWorkflow(file, data, stamp string) (string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("%s: not a workflow mapping", file)
	}
	source := child(doc.Content[0], "source")
	if source == nil || source.Kind != yaml.MappingNode {
		return "", errors.New(file + ": the workflow has no source to read the upload")
	}
	with := child(source, "with")
	if with == nil {
		with = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		source.Content = append(source.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "with"}, with)
	}
	path := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: data, Style: yaml.DoubleQuotedStyle}
	if p := child(with, "path"); p != nil {
		*p = *path
	} else {
		with.Content = append(with.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "path"}, path)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return "", err
	}
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	derived := filepath.Join(filepath.Dir(file), ".upload-"+base+"-"+stamp+".yaml")
	header := "# Written by the paperflow console: " + base + " on an uploaded file, " + time.Now().UTC().Format(time.RFC3339) + "\n"
	if err := os.WriteFile(derived, append([]byte(header), out...), 0o600); err != nil {
		return "", fmt.Errorf("write the run's workflow file beside %s: %w", file, err)
	}
	return derived, nil
}

// child finds a mapping's value by key.
func child(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
