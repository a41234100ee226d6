package mdpdf

import (
	"bytes"
	"errors"
	"fmt"
	stdimage "image"
	_ "image/jpeg" // DecodeConfig for JPEG
	_ "image/png"  // DecodeConfig for PNG
	"os"
	"path/filepath"
	"strings"

	"github.com/paperflow/paperflow/plugins/template/internal/pdfwrite"
)

// image is one picture file, checked, read and made ready for PDF once.
type image struct {
	key    string // the cleaned path
	pic    *pdfwrite.Image
	loadEr error
}

// maxImageBytes bounds one picture file.
const maxImageBytes = 16 << 20

// maxCachedImages bounds the cache when image paths come from tags.
const maxCachedImages = 256

// load returns the image at dest, a path relative to the cache's directory.
func (c *imageCache) load(dest string) (*image, error) {
	key, err := c.localPath(dest)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	img, ok := c.byPath[key]
	c.mu.Unlock()
	if ok {
		return img, img.loadEr
	}
	img = c.read(key)
	c.mu.Lock()
	if len(c.byPath) < maxCachedImages {
		c.byPath[key] = img
	}
	c.mu.Unlock()
	return img, img.loadEr
}

// localPath checks that dest names a file inside the directory.
func (c *imageCache) localPath(dest string) (string, error) {
	switch {
	case dest == "":
		return "", errors.New("image: empty path")
	case strings.Contains(dest, "://") || strings.HasPrefix(dest, "data:"):
		return "", fmt.Errorf("image %q: only local files are used; put the PNG or JPEG next to the template", dest)
	}
	p := filepath.FromSlash(dest)
	if !filepath.IsLocal(p) {
		return "", fmt.Errorf("image %q: the path must stay inside the template's folder %s", dest, c.dir)
	}
	return filepath.Clean(p), nil
}

func (c *imageCache) read(key string) *image {
	img := &image{key: key}
	fail := func(format string, args ...any) *image {
		img.loadEr = fmt.Errorf("image %s: "+format, append([]any{filepath.Join(c.dir, key)}, args...)...)
		return img
	}
	f, err := os.Open(filepath.Join(c.dir, key))
	if err != nil {
		return fail("%v", errors.Unwrap(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail("%v", err)
	}
	if st.Size() > maxImageBytes {
		return fail("%d bytes; the limit is %d", st.Size(), maxImageBytes)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return fail("%v", err)
	}
	if _, _, err := stdimage.DecodeConfig(bytes.NewReader(data)); err != nil {
		return fail("not a PNG or JPEG picture (%v)", err)
	}
	pic, err := pdfwrite.NewImage(data)
	if err != nil {
		return fail("%v", err)
	}
	img.pic = pic
	return img
}
