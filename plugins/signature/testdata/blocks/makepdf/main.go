// Command makepdf is a step block for the signature block's tests: it
// stores one small real PDF per item, as the template block does, so the
// signature block has a document to have signed.
package main

import (
	"bytes"

	"github.com/go-pdf/fpdf"

	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest"
)

// Contract is a one-page PDF for item id.
func Contract(id string) (string, []byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetFont("Helvetica", "", 14)
	pdf.AddPage()
	pdf.MultiCell(0, 8, "Employment contract number "+id+".\n\nThe parties agree to the terms written here.", "", "L", false)
	var buf bytes.Buffer
	err := pdf.Output(&buf)
	return "Contract " + id + ".pdf", buf.Bytes(), err
}

func main() {
	sdk.Serve(func() sdk.Block { return &sdktest.DocumentStep{Name: "makepdf", Make: Contract} })
}
