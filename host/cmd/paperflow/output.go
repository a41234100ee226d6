package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/pflag"
)

// outputFormat is the value of a command's -o/--output: text for people,
// json for programs. Any other value is refused when the flag is parsed,
// before the command connects to anything.
type outputFormat string

// outputFlag adds -o/--output to f, text by default.
func outputFlag(f *pflag.FlagSet, o *outputFormat) {
	*o = "text"
	f.VarP(o, "output", "o", "format: text or json")
}

func (o *outputFormat) Set(s string) error {
	if s != "text" && s != "json" {
		return errors.New("use text or json")
	}
	*o = outputFormat(s)
	return nil
}

func (o *outputFormat) String() string { return string(*o) }

// Type names the value in --help.
func (o *outputFormat) Type() string { return "format" }

// json says whether to print JSON.
func (o outputFormat) json() bool { return o == "json" }

// printList prints a listing: as JSON, [] when it is empty; for people,
// the sentence none when it is empty, else the rows row writes (tab
// separated, under header) aligned as a table.
func printList[T any](out io.Writer, o outputFormat, items []T, none, header string, row func(w io.Writer, item T)) error {
	if o.json() {
		if items == nil {
			items = []T{}
		}
		return printJSON(out, items)
	}
	if len(items) == 0 {
		_, err := fmt.Fprintln(out, none)
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, item := range items {
		row(tw, item)
	}
	return tw.Flush()
}
