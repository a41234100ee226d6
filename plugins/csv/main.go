// Command csv is the paperflow source block that reads a CSV file: one
// item per record, fields keyed by the header row.
//
//	source:
//	  uses: csv
//	  with: {path: people.csv, delimiter: ";"}
package main

import "github.com/paperflow/paperflow/plugins/sdk"

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
