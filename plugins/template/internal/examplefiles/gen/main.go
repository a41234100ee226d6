// Command gen writes the example templates that are not plain text into
// examples/templates: invoice.docx, form.pdf and logo.png.
//
//	go run ./plugins/template/internal/examplefiles/gen [-out examples/templates]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/paperflow/paperflow/plugins/template/internal/examplefiles"
)

func main() {
	out := flag.String("out", "examples/templates", "folder to write the files into")
	flag.Parse()
	form, err := examplefiles.Form()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, data := range map[string][]byte{
		"invoice.docx": examplefiles.Invoice(),
		"form.pdf":     form,
		"logo.png":     examplefiles.Logo(),
	} {
		path := filepath.Join(*out, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("wrote", path)
	}
}
