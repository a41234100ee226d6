// Command template is the paperflow step that turns each item into
// documents: a Markdown letter laid out as PDF, a Word (.docx) file filled
// in (and, with LibreOffice installed, also converted to PDF), or a
// fillable PDF form filled in. Each document goes to the host's document
// store; the block emits one DOCUMENTS_CREATED event per item and outputs
// {documents: [{id, url, name, mimetype}]} for later blocks.
//
//	blocks:
//	  - id: letter
//	    uses: template
//	    with:
//	      template: ../examples/templates/letter.md
//	      name: "Letter {{Last Name}}"
//
// Templates use paperflow's tag language ({{Field}}, helpers, sections);
// they are read once when the block is configured and rendered per item.
package main

import "github.com/paperflow/paperflow/plugins/sdk"

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
