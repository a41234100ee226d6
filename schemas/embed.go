// Package schemas holds the JSON Schemas of paperflow: the event envelope and
// the four event types under events/, and the workflow file schema. They are
// embedded so the host validates against exactly the files in this folder.
package schemas

import "embed"

// FS holds events/*.json and workflow.schema.json.
//
//go:embed events/*.json workflow.schema.json
var FS embed.FS
