package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"
)

// DeployUpload stores a version of workflow name that reads its items
// from an uploaded file: the files of version (the current one when
// empty), the upload at uploads/<hash>/<fileName> beside the workflow
// file, and the workflow file with its source's `path` pointing there.
// The version is not made current and not recorded in the history, so
// what hosts serve and what a rollback goes back to stay as they were; a
// run started on it records it, and every host that joins the run loads
// it. Only the upload and the rewritten workflow file are stored anew.
func (s *Store) DeployUpload(ctx context.Context, name, version, fileName string, data []byte, by string) (*Version, error) {
	base, err := s.Version(ctx, name, version)
	if err != nil {
		return nil, err
	}
	var wfFile *File
	var total int64
	for i, f := range base.Files {
		total += f.Size
		if f.Path == base.Workflow {
			wfFile = &base.Files[i]
		}
	}
	if wfFile == nil {
		return nil, fmt.Errorf("version %s of %s is damaged: its workflow file %s is not among its files", base.ID, name, base.Workflow)
	}
	if total+int64(len(data)) > MaxBundleBytes {
		return nil, &BundleError{Path: fileName, Msg: fmt.Sprintf("the workflow's files and the upload add up to more than the %d MiB a version may hold; upload a smaller file", MaxBundleBytes>>20), TooLarge: true}
	}
	raw, err := s.readObject(ctx, *wfFile)
	if err != nil {
		return nil, fmt.Errorf("read version %s of %s: %w", base.ID, name, err)
	}
	hash := sum(data)
	rel := "uploads/" + hash[:12] + "/" + uploadName(fileName)
	derived, err := withSourcePath(raw, rel)
	if err != nil {
		return nil, fmt.Errorf("%s (version %s of %s): %w", base.Workflow, base.ID, name, err)
	}
	upload := File{Path: path.Join(path.Dir(base.Workflow), rel), SHA256: hash, Size: int64(len(data))}
	wf := File{Path: base.Workflow, SHA256: sum(derived), Size: int64(len(derived))}
	files := []File{wf, upload}
	for _, f := range base.Files {
		if f.Path != wf.Path && f.Path != upload.Path {
			files = append(files, f)
		}
	}
	if err := checkPaths(base.Workflow, files); err != nil {
		return nil, err
	}
	if err := s.putFile(ctx, upload, data); err != nil {
		return nil, err
	}
	if err := s.putFile(ctx, wf, derived); err != nil {
		return nil, err
	}
	id, files := manifestID(base.Workflow, files)
	v := Version{Name: name, ID: id, Description: base.Description, Workflow: base.Workflow, Files: files, Created: time.Now().UTC(), By: by}
	rawV, _ := json.Marshal(v)
	if _, err := s.kv.Create(ctx, versionKey(name, id), rawV); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("store the upload version %s of %s: %w", id, name, err)
	}
	s.o.Log.Info("upload version stored, not made current", "workflow", name, "version", id, "from", base.ID, "file", upload.Path, "bytes", upload.Size, "by", by)
	return &v, nil
}

// readObject reads one file of a version from the object store.
func (s *Store) readObject(ctx context.Context, f File) ([]byte, error) {
	obj, err := s.files.Get(ctx, objectName(f.SHA256))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, MaxBundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	if sum(data) != f.SHA256 {
		return nil, fmt.Errorf("%s: the content differs from the hash the version names; deploy the workflow again", f.Path)
	}
	return data, nil
}

// checkPaths checks a version's paths as Bundle.Check checks a bundle's.
func checkPaths(workflow string, files []File) error {
	b := &Bundle{Workflow: workflow, Files: make(map[string][]byte, len(files))}
	for _, f := range files {
		b.Files[f.Path] = nil
	}
	return b.Check()
}

// uploadName keeps the letters, digits, dots, dashes and underscores of an
// uploaded file's base name, so a problem points at people.csv:4.
func uploadName(name string) string {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	ext := strings.ToLower(path.Ext(base))
	base = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, base)
	if strings.Trim(base, "._") == "" || len(base) > 100 || strings.HasPrefix(base, ".") {
		base = "items" + ext
	}
	return base
}

// withSourcePath rewrites a workflow file so that its source reads path.
// Comments and the order of keys stay.
func withSourcePath(raw []byte, p string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a workflow mapping")
	}
	source := child(doc.Content[0], "source")
	if source == nil || source.Kind != yaml.MappingNode {
		return nil, errors.New("the workflow has no source to read an upload")
	}
	with := child(source, "with")
	if with == nil {
		with = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		source.Content = append(source.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "with"}, with)
	}
	if with.Kind != yaml.MappingNode {
		return nil, errors.New("the source's `with` is not a mapping")
	}
	value := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p, Style: yaml.DoubleQuotedStyle}
	if old := child(with, "path"); old != nil {
		*old = *value
	} else {
		with.Content = append(with.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "path"}, value)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
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
