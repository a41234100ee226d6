package sdk

import "path/filepath"

// Path resolves a path from a block's with: the way workflow authors read
// it: relative to the workflow file's folder, or as it is when absolute or
// when the host gave no folder.
func (c Config) Path(p string) string {
	if filepath.IsAbs(p) || c.WorkflowDir == "" {
		return p
	}
	return filepath.Join(c.WorkflowDir, p)
}
