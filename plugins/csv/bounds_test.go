package main

import "github.com/paperflow/paperflow/plugins/internal/recordfile"

// The source's bounds on reading its file, for tests that reach them or
// read a file alike.
const (
	maxRecordBytes = recordfile.MaxRecordBytes
	readBufferSize = recordfile.ReadBufferSize
)
