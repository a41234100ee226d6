package pdfwrite

import (
	"bytes"
	"errors"
	"fmt"
	stdimage "image"
	"image/color"
	_ "image/jpeg" // JPEG pictures
	_ "image/png"  // PNG pictures
	"strconv"
)

// Image is a picture ready for any number of documents: decoded, checked
// and compressed once.
type Image struct {
	// Width and Height are in pixels.
	Width, Height int
	dict          string // the XObject's entries but for the length and mask
	filter        string
	data          []byte
	mask          *Image // the alpha channel, when not opaque
}

// NewImage reads a PNG or JPEG file. JPEG data is embedded as it is;
// PNG pixels are decoded (any PNG the standard library reads) and
// compressed once.
func NewImage(data []byte) (*Image, error) {
	cfg, format, err := stdimage.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, errors.New("empty picture")
	}
	switch format {
	case "jpeg":
		return jpegImage(data, cfg)
	case "png":
		return pngImage(data)
	}
	return nil, fmt.Errorf("%s pictures are not supported; use PNG or JPEG", format)
}

func jpegImage(data []byte, cfg stdimage.Config) (*Image, error) {
	space := "/DeviceRGB"
	switch cfg.ColorModel {
	case color.GrayModel:
		space = "/DeviceGray"
	case color.CMYKModel:
		// Adobe's CMYK JPEGs store inverted values.
		space = "/DeviceCMYK /Decode [1 0 1 0 1 0 1 0]"
	}
	// Decoding once checks the whole file, so a damaged picture fails
	// when the template is loaded.
	if _, _, err := stdimage.Decode(bytes.NewReader(data)); err != nil {
		return nil, err
	}
	return &Image{
		Width: cfg.Width, Height: cfg.Height,
		dict:   imageDict(cfg.Width, cfg.Height, space),
		filter: "/DCTDecode",
		data:   data,
	}, nil
}

func pngImage(data []byte) (*Image, error) {
	img, _, err := stdimage.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	gray := false
	switch img.ColorModel() {
	case color.GrayModel, color.Gray16Model:
		gray = true
	}
	channels := 3
	if gray {
		channels = 1
	}
	pix := make([]byte, 0, w*h*channels)
	alpha := make([]byte, 0, w*h)
	opaque := true
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if gray {
				pix = append(pix, c.R)
			} else {
				pix = append(pix, c.R, c.G, c.B)
			}
			alpha = append(alpha, c.A)
			if c.A != 0xff {
				opaque = false
			}
		}
	}
	space := "/DeviceRGB"
	if gray {
		space = "/DeviceGray"
	}
	out := &Image{Width: w, Height: h, dict: imageDict(w, h, space), filter: "/FlateDecode", data: deflate(pix)}
	if !opaque {
		out.mask = &Image{Width: w, Height: h, dict: imageDict(w, h, "/DeviceGray"), filter: "/FlateDecode", data: deflate(alpha)}
	}
	return out, nil
}

func imageDict(w, h int, space string) string {
	return "/Type /XObject /Subtype /Image /Width " + strconv.Itoa(w) + " /Height " + strconv.Itoa(h) +
		" /ColorSpace " + space + " /BitsPerComponent 8"
}

// write writes the picture as object n and its mask as n+1.
func (img *Image) write(w *writer, n int) {
	w.begin(n)
	w.s("<< ", img.dict)
	if img.mask != nil {
		w.s(" /SMask ")
		w.ref(n + 1)
	}
	w.s(" /Filter ", img.filter, " /Length ")
	w.int(len(img.data))
	w.s(" >>\nstream\n")
	w.buf = append(w.buf, img.data...)
	w.s("\nendstream\nendobj\n")
	if img.mask != nil {
		img.mask.write(w, n+1)
	}
}
