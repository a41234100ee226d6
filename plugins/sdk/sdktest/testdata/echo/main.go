// Command echo serves the sdktest echo block as a plugin binary.
package main

import (
	"github.com/paperflow/paperflow/plugins/sdk"
	"github.com/paperflow/paperflow/plugins/sdk/sdktest/testdata/echo/block"
)

func main() { sdk.Serve(block.New) }
