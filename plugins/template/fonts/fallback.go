package fonts

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// The embedded DejaVu fonts have no Chinese, Japanese or Korean and few
// emoji. For those the layout falls back on fonts installed on the
// machine, found through fontconfig: on Debian, fonts-droid-fallback
// (DroidSansFallbackFull.ttf) for CJK and fonts-symbola for emoji. Only
// TrueType outlines can be embedded by the PDF writer: CFF fonts, font
// collections (.ttc) and colour bitmap emoji fonts are passed over.
//
// Each font is read and its character map parsed once per process; a
// character no font has is looked up once per process too.

// Fallback returns the first fallback face that has every rune of rs,
// looking for more fonts through fontconfig when the ones known so far
// lack some; nil when no font on the machine has them all.
func Fallback(rs []rune) *Face {
	return system.find(rs)
}

// system holds the fallback faces of this process.
var system = &fallbacks{list: fcList}

type fallbacks struct {
	list func(r rune) []string // font files that may have r, in preference order

	mu     sync.Mutex
	faces  []*Face          // usable faces in the order they were found
	byFile map[string]*Face // every file tried; nil for an unusable one
	looked map[rune]bool    // runes already looked up
}

func (fb *fallbacks) find(rs []rune) *Face {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if f := fb.first(rs); f != nil {
		return f
	}
	added := false
	for _, r := range rs {
		if fb.looked[r] || fb.has(r) {
			continue
		}
		if fb.looked == nil {
			fb.looked, fb.byFile = map[rune]bool{}, map[string]*Face{}
		}
		fb.looked[r] = true
		for _, file := range fb.list(r) {
			f, tried := fb.byFile[file]
			if !tried {
				f = loadFile(file)
				fb.byFile[file] = f
				if f != nil {
					fb.faces = append(fb.faces, f)
					added = true
				}
			}
			if f != nil && f.Has(r) {
				break
			}
		}
	}
	if !added {
		return nil
	}
	return fb.first(rs)
}

// first is the first known face with every rune of rs.
func (fb *fallbacks) first(rs []rune) *Face {
	for _, f := range fb.faces {
		if hasAll(f, rs) {
			return f
		}
	}
	return nil
}

func (fb *fallbacks) has(r rune) bool {
	for _, f := range fb.faces {
		if f.Has(r) {
			return true
		}
	}
	return false
}

func hasAll(f *Face, rs []rune) bool {
	for _, r := range rs {
		if !f.Has(r) {
			return false
		}
	}
	return true
}

// loadFile reads a font file as a Face; nil when it is not a TrueType font
// with outlines and a Unicode character map.
func loadFile(file string) *Face {
	data, err := os.ReadFile(file)
	if err != nil {
		slog.Warn("fallback font unreadable", "file", file, "err", err)
		return nil
	}
	if _, ok := table(data, "glyf"); !ok || len(data) < 4 || !bytes.Equal(data[:4], []byte{0, 1, 0, 0}) && string(data[:4]) != "true" {
		return nil // CFF outlines, a collection, or bitmaps only
	}
	f := &Face{Name: fontName(file), Data: data}
	if err := f.Err(); err != nil {
		slog.Warn("fallback font unusable", "file", file, "err", err)
		return nil
	}
	return f
}

// fontName makes a PDF font name from a file name: letters, digits and
// hyphens.
func fontName(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, base)
}

// fcTimeout bounds one fontconfig query; its cache makes a query take a
// few milliseconds.
const fcTimeout = 5 * time.Second

// fcList asks fontconfig for the TrueType font files that have r, sorted
// by path so that every run on a machine picks the same font. Without
// fontconfig there are none.
func fcList(r rune) []string {
	ctx, cancel := context.WithTimeout(context.Background(), fcTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "fc-list", "-f", "%{file}\t%{fontformat}\n", fmt.Sprintf(":charset=%x", r)).Output()
	if err != nil {
		if !fcMissingLogged {
			fcMissingLogged = true
			slog.Warn("fontconfig unavailable: no fallback fonts for text the embedded fonts lack", "err", err)
		}
		return nil
	}
	var files []string
	for _, l := range strings.Split(string(out), "\n") {
		file, format, ok := strings.Cut(l, "\t")
		ext := strings.ToLower(filepath.Ext(file))
		if ok && format == "TrueType" && (ext == ".ttf" || ext == ".otf") {
			files = append(files, file)
		}
	}
	slices.Sort(files)
	return slices.Compact(files)
}

// fcMissingLogged is guarded by system.mu.
var fcMissingLogged bool
