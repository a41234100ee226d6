package console

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
)

// uploadRun starts a run of a served workflow on an uploaded CSV or JSON
// file through Options.Uploads, which keeps the upload in a version of
// the workflow of its own rather than beside the workflow's file.
func (c *Console) uploadRun(w http.ResponseWriter, r *http.Request, ss *session) {
	name := r.PathValue("name")
	wf, ok := c.workflow(name)
	if !ok {
		c.message(w, r, ss, http.StatusNotFound, "No such workflow", "This host does not serve a workflow named "+name+".")
		return
	}
	if c.o.Uploads == nil {
		c.message(w, r, ss, http.StatusNotImplemented, "Cannot start runs", "This host takes no uploads.")
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		c.message(w, r, ss, http.StatusBadRequest, "No file", "Choose a CSV or JSON file to upload.")
		return
	}
	defer f.Close()
	ext := strings.ToLower(filepath.Ext(hdr.Filename))
	allowed := map[string][]string{"csv": {".csv"}, "json": {".json", ".ndjson", ".jsonl"}}[wf.Source.Uses]
	if !slices.Contains(allowed, ext) {
		c.message(w, r, ss, http.StatusBadRequest, "Wrong kind of file",
			fmt.Sprintf("Workflow %s reads its items with the %s block: upload a file ending in %s.", wf.Name, wf.Source.Uses, strings.Join(allowed, " or ")))
		return
	}
	data, err := io.ReadAll(io.LimitReader(f, c.o.MaxUpload+1))
	if err != nil {
		c.fail(w, r, ss, "read the upload", err)
		return
	}
	if int64(len(data)) > c.o.MaxUpload {
		c.message(w, r, ss, http.StatusRequestEntityTooLarge, "File too large",
			fmt.Sprintf("An upload may hold %d MiB; split the items into smaller files.", c.o.MaxUpload>>20))
		return
	}
	id, err := c.o.Uploads.StartUpload(r.Context(), wf.Name, hdr.Filename, data)
	if err != nil {
		c.fail(w, r, ss, "start the run", err)
		return
	}
	c.log.Info("console: run started from an upload", "workflow", wf.Name, "run", id, "file", hdr.Filename, "bytes", len(data))
	http.Redirect(w, r, "/runs/"+url.PathEscape(id), http.StatusSeeOther)
}
