#!/bin/sh
# Builds Benthos from a small module in $1 (under .cache/) that imports only
# its io and pure components; prints the binary's path. The module is
# generated here each time and never committed.
set -eu
dir=$1
version=${2:-v4.27.0}
mkdir -p "$dir"
cd "$dir"
cat > main.go <<'GO'
// Command benthos is Benthos with its io and pure components only.
package main

import (
	"context"

	_ "github.com/benthosdev/benthos/v4/public/components/io"
	_ "github.com/benthosdev/benthos/v4/public/components/pure"
	"github.com/benthosdev/benthos/v4/public/service"
)

func main() { service.RunCLI(context.Background()) }
GO
if [ ! -f go.mod ]; then
	go mod init paperflow.local/benthospeer >/dev/null 2>&1
fi
go get "github.com/benthosdev/benthos/v4@$version" >/dev/null 2>&1 || go get "github.com/benthosdev/benthos/v4@$version"
go mod tidy >/dev/null 2>&1 || go mod tidy
go build -o benthos . 
echo "$dir/benthos"
