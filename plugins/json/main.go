// Command json is the paperflow source block that reads JSON records: a
// top-level array of objects, NDJSON (one object per line), or the array
// at a JSON pointer inside a document.
//
//	source:
//	  uses: json
//	  with: {path: export.json, pointer: /data/rows}
package main

import "github.com/paperflow/paperflow/plugins/sdk"

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
