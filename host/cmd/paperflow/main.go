// Command paperflow is the paperflow host: it validates and runs workflow
// files, serves the HTTP API and signing pages, and tails events.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(exitCode(err))
	}
}
