package main

import "github.com/paperflow/paperflow/plugins/internal/recordfile"

// readBufferSize is the read-ahead the source puts on its file, for tests
// that read a file alike.
const readBufferSize = recordfile.ReadBufferSize
