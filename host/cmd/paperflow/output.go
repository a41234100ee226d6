package main

import (
	"errors"

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
