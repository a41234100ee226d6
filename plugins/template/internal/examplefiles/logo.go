package examplefiles

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
)

// Logo is examples/templates/logo.png, the picture at the top of the
// example letter: a 240×60 band shading from blue to teal.
func Logo() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 240, 60))
	for x := 0; x < 240; x++ {
		c := color.NRGBA{R: 20, G: uint8(60 + x*100/240), B: uint8(160 - x*40/240), A: 255}
		for y := 0; y < 60; y++ {
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // encoding to memory does not fail
	}
	return b.Bytes()
}
