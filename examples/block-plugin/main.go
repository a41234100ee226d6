// Command derive is an example third-party paperflow block: a step that
// derives new fields for each item. It is built with nothing but
// github.com/paperflow/paperflow/plugins/sdk, like any outside block.
//
// See README.md for how to build, install and use it.
package main

import "github.com/paperflow/paperflow/plugins/sdk"

func main() { sdk.Serve(func() sdk.Block { return &Derive{} }) }
