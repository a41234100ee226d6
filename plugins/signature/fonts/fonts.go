// Package fonts holds the script face a typed signature is drawn in on the
// signed PDF: Kristi by Birgit Pulk, under the SIL Open Font License 1.1
// (LICENSE), which allows embedding it in documents.
package fonts

import (
	_ "embed"

	tfonts "github.com/paperflow/paperflow/plugins/template/fonts"
)

//go:embed Kristi.ttf
var kristi []byte

// Script is the handwriting-like face of typed signatures and initials.
var Script = &tfonts.Face{Name: "Kristi", Data: kristi}
