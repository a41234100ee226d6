// Command makedoc is a step block for the email block's tests: it stores
// one PDF-like document per item, as the template block will, so the email
// block has something to attach.
package main

import (
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
)

func invoice(id string) (string, []byte, error) {
	return "Invoice " + id + ".pdf", Content(id), nil
}

// Content is the document of item id: about 30 KB, the same on every call.
func Content(id string) []byte {
	b := []byte("%PDF-1.4\n% paperflow test document for item " + id + "\n")
	for i := 0; len(b) < 30_000; i++ {
		b = append(b, byte(i*31+len(id)), byte(i>>3))
	}
	return append(b, "\n%%EOF\n"...)
}

func main() {
	sdk.Serve(func() sdk.Block { return &sdktest.DocumentStep{Name: "makedoc", Make: invoice} })
}
