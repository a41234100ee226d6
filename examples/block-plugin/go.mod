module github.com/paperflow/paperflow/examples/block-plugin

go 1.26.0

require github.com/paperflow/paperflow/plugins/sdk v0.3.0

require (
	github.com/fatih/color v1.13.0 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/hashicorp/go-hclog v1.6.3 // indirect
	github.com/hashicorp/go-plugin v1.8.0 // indirect
	github.com/hashicorp/yamux v0.1.2 // indirect
	github.com/mattn/go-colorable v0.1.12 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/oklog/run v1.1.0 // indirect
	github.com/paperflow/paperflow/plugins/proto v0.1.0 // indirect
	github.com/santhosh-tekuri/jsonschema/v5 v5.3.1 // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/grpc v1.85.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// A block outside this repository requires a tagged plugins/sdk/vX.Y.Z
// instead of these.
replace (
	github.com/paperflow/paperflow/plugins/proto => ../../plugins/proto
	github.com/paperflow/paperflow/plugins/sdk => ../../plugins/sdk
)
