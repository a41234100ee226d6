package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"

	"github.com/paperflow/paperflow/host/workflow"
)

// Limits on what one version holds. A deploy holds its files in memory
// once, and every host that runs the version writes them to its disk.
const (
	// MaxBundleBytes bounds the files of one version, added up.
	MaxBundleBytes = 64 << 20
	// MaxBundleFiles bounds how many files one version holds.
	MaxBundleFiles = 1000
	// maxPathBytes bounds one file's path inside a version.
	maxPathBytes = 512
)

// Bundle is a workflow file and the files it references, each by a slash
// path relative to a root that holds them all, so the workflow's relative
// paths (even "../data/people.csv") resolve the same way wherever the
// bundle is written.
type Bundle struct {
	// Workflow is the path of the workflow file among Files.
	Workflow string
	// Files holds every file's content by path, the workflow file's too.
	Files map[string][]byte
	// Notes say what a deploy did not follow (paths with tags, images
	// outside a template's folder), for the person deploying.
	Notes []string
}

// BundleError is a bundle that cannot be deployed as sent: a bad path, too
// many or too large files. The API answers it 400 or 413.
type BundleError struct {
	Path     string // the file it is about; "" for the whole bundle
	Msg      string
	TooLarge bool
}

func (e *BundleError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return fmt.Sprintf("file %q: %s", e.Path, e.Msg)
}

// Check refuses a bundle that could write outside its own folder or is
// over the limits: every path must be a clean, relative slash path
// without "..", control characters or backslashes, and no path may be the
// folder of another.
func (b *Bundle) Check() error {
	if len(b.Files) > MaxBundleFiles {
		return &BundleError{Msg: fmt.Sprintf("%d files, more than the %d a workflow version may hold", len(b.Files), MaxBundleFiles), TooLarge: true}
	}
	var total int64
	for p, data := range b.Files {
		if err := checkPath(p); err != nil {
			return err
		}
		total += int64(len(data))
	}
	if total > MaxBundleBytes {
		return &BundleError{Msg: fmt.Sprintf("the files add up to %d bytes, more than the %d MiB a workflow version may hold; keep large data outside the workflow", total, MaxBundleBytes>>20), TooLarge: true}
	}
	if err := checkPath(b.Workflow); err != nil {
		return err
	}
	if _, ok := b.Files[b.Workflow]; !ok {
		return &BundleError{Path: b.Workflow, Msg: "the workflow file is not among the files"}
	}
	for p := range b.Files {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if _, ok := b.Files[dir]; ok {
				return &BundleError{Path: dir, Msg: fmt.Sprintf("is a file and also the folder of %q", p)}
			}
		}
	}
	return nil
}

func checkPath(p string) error {
	bad := func(msg string) error {
		return &BundleError{Path: p, Msg: msg + "; file paths are relative slash paths inside the workflow's folder, such as templates/letter.md"}
	}
	switch {
	case p == "":
		return bad("empty path")
	case len(p) > maxPathBytes:
		return bad(fmt.Sprintf("path longer than %d bytes", maxPathBytes))
	case !utf8.ValidString(p):
		return bad("path is not UTF-8")
	case strings.ContainsFunc(p, func(r rune) bool { return unicode.IsControl(r) || r == '\\' || r == ':' }):
		return bad("control characters, backslashes and colons are not allowed")
	case strings.HasPrefix(p, "/"):
		return bad("absolute path")
	case path.Clean(p) != p || !filepath.IsLocal(filepath.FromSlash(p)):
		return bad("the path is not clean or leaves its folder (\"..\", \".\", \"//\")")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." || strings.HasPrefix(seg, ".tmp-") {
			return bad("segment " + seg + " is not allowed")
		}
	}
	return nil
}

// Gather makes the bundle of a loaded workflow: its file and every file
// the blocks' configurations name (found through cat, see
// workflow.Workflow.Files), and the images a Markdown template shows. The
// root is the deepest folder holding them all.
//
// Not followed, and said in Notes: paths holding a tag (known only per
// item) and what an HTML or Word template names (a Word file holds its
// pictures; an HTML email's images are URLs).
func Gather(wf *workflow.Workflow, cat workflow.Catalog) (*Bundle, error) {
	refs, err := wf.Files(cat)
	if err != nil {
		return nil, err
	}
	abs := []string{wf.File}
	var notes []string
	for _, r := range refs {
		if r.Tagged {
			notes = append(notes, fmt.Sprintf("%s:%d:%d: %s: %q holds a tag, so the files it names differ per item and are not deployed; name the file without tags",
				wf.File, r.Line, r.Col, r.Label(), r.Path))
			continue
		}
		if filepath.IsAbs(r.Path) {
			return nil, fmt.Errorf("%s:%d:%d: %s: %q is an absolute path: a deployed workflow runs on hosts without this disk; make it relative to the workflow file",
				wf.File, r.Line, r.Col, r.Label(), r.Path)
		}
		p := filepath.Join(wf.Dir, filepath.FromSlash(r.Path))
		abs = append(abs, p)
		if strings.EqualFold(filepath.Ext(p), ".md") {
			imgs, n := markdownImages(p)
			abs = append(abs, imgs...)
			notes = append(notes, n...)
		}
	}
	slices.Sort(abs)
	abs = slices.Compact(abs)
	root := filepath.Dir(wf.File)
	for _, p := range abs {
		root = commonDir(root, filepath.Dir(p))
	}
	b := &Bundle{Files: map[string][]byte{}, Notes: notes}
	var total int64
	for _, p := range abs {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil, fmt.Errorf("deploy %s: %w", p, err)
		}
		data, err := readFile(p, MaxBundleBytes-total)
		if err != nil {
			return nil, err
		}
		total += int64(len(data))
		b.Files[filepath.ToSlash(rel)] = data
	}
	rel, _ := filepath.Rel(root, wf.File)
	b.Workflow = filepath.ToSlash(rel)
	if err := b.Check(); err != nil {
		return nil, err
	}
	return b, nil
}

// readFile reads a regular file of at most limit bytes.
func readFile(p string, limit int64) ([]byte, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("deploy: %s is not a regular file", p)
	}
	if st.Size() > limit {
		return nil, &BundleError{Path: p, Msg: fmt.Sprintf("the workflow's files would add up to more than the %d MiB a version may hold; keep large data outside the workflow", MaxBundleBytes>>20), TooLarge: true}
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	return data, nil
}

// commonDir is the deepest folder holding both a and b (clean, absolute).
func commonDir(a, b string) string {
	for !within(a, b) {
		parent := filepath.Dir(a)
		if parent == a {
			return a
		}
		a = parent
	}
	return a
}

// within says whether p is dir or lies under it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && filepath.IsLocal(rel)
}

// markdownImages lists the local images a Markdown template shows, which
// the template block reads from the template's folder, and notes the
// images it cannot follow.
func markdownImages(file string) (paths, notes []string) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, nil // Load checked it exists; readFile reports the error
	}
	dir := filepath.Dir(file)
	doc := goldmark.New().Parser().Parse(text.NewReader(src))
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		img, ok := n.(*ast.Image)
		if !entering || !ok {
			return ast.WalkContinue, nil
		}
		dest := string(img.Destination)
		switch {
		case bytes.Contains(img.Destination, []byte("{{")):
			notes = append(notes, fmt.Sprintf("%s: image %q holds a tag: the images it names are not deployed", file, dest))
		case strings.Contains(dest, "://"), strings.HasPrefix(dest, "data:"):
		case !filepath.IsLocal(filepath.FromSlash(dest)):
			notes = append(notes, fmt.Sprintf("%s: image %q lies outside the template's folder and is not deployed", file, dest))
		default:
			p := filepath.Join(dir, filepath.FromSlash(dest))
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				paths = append(paths, p)
			}
		}
		return ast.WalkContinue, nil
	})
	return paths, notes
}

// sum is the hex SHA-256 of data.
func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// versionID is the content address of a bundle: the hash of the workflow
// file's path and of every file's path and hash, so equal content is one
// version and any change is another.
func versionID(b *Bundle) (string, []File) {
	files := make([]File, 0, len(b.Files))
	for p, data := range b.Files {
		files = append(files, File{Path: p, SHA256: sum(data), Size: int64(len(data))})
	}
	return manifestID(b.Workflow, files)
}

// manifestID is the content address of a version's files (see versionID),
// and the files sorted by path as the version lists them.
func manifestID(workflow string, files []File) (string, []File) {
	slices.SortFunc(files, func(x, y File) int { return strings.Compare(x.Path, y.Path) })
	var manifest strings.Builder
	manifest.WriteString("paperflow workflow version 1\nworkflow " + workflow + "\n")
	for _, f := range files {
		manifest.WriteString(f.SHA256 + " " + f.Path + "\n")
	}
	return sum([]byte(manifest.String()))[:versionLen], files
}

// versionLen is the length of a version id in hex digits.
const versionLen = 16
