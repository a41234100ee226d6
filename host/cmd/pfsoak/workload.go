package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/paperflow/paperflow/host/workflow"
)

// workload writes the files of each run: a data file of generated items
// and a workflow reading it. Every run gets its own pair under one
// workflow name, so the webhook sink that serve loaded from the first
// file delivers the events of all of them, and item keys stay unique
// across runs.
type workload struct {
	dir     string
	hookURL string
	secret  string
	runs    int
}

// secretName is the secret the workflow signs webhooks with, passed in
// the environment as a real deployment would, not written in the file.
const secretName = "PFSOAK_WEBHOOK"

// eventsPerItem is how many webhook deliveries one item makes:
// DOCUMENTS_CREATED from the template block and EMAILS_CREATED from email.
const eventsPerItem = 2

// receiptTemplate is kept small: the soak is about the host, and a long
// document only moves the time into the template block's PDF rendering.
const receiptTemplate = `# Receipt {{Key}}

Dear {{Name}},

we received your payment of **{{Amount}}**. Thank you.
`

var workflowTemplate = template.Must(template.New("wf").Parse(`# Written by pfsoak: a receipt per item, emailed with the PDF attached,
# and every event of the workflow posted to pfsoak's webhook receiver.
name: pfsoak
description: pfsoak load, run {{.Run}}
source:
  uses: json
  with:
    path: {{.Data}}
blocks:
  - id: receipt
    uses: template
    with:
      template: receipt.md
      name: "Receipt {{"{{"}}Key{{"}}"}}"
  - id: mail
    uses: email
    with:
      from: "pfsoak <soak@example.com>"
      to: "{{"{{"}}Email{{"}}"}}"
      subject: "{{.SubjectPrefix}}{{"{{"}}Key{{"}}"}}"
      text: "Dear {{"{{"}}Name{{"}}"}}, your receipt is attached."
      attach: [receipt]
  - id: notify
    uses: webhook
    with:
      url: {{.HookURL}}
      secret: "{{"{{"}} .secrets.{{.Secret}} {{"}}"}}"
      events: [DOCUMENTS_CREATED, EMAILS_CREATED]
      timeout: 10s
      retry: [5s, 30s, 2m]
`))

// write makes the next run's data file of n items and its workflow, and
// returns the workflow's absolute path.
func (w *workload) write(n int) (string, error) {
	w.runs++
	if w.runs == 1 {
		if err := os.WriteFile(filepath.Join(w.dir, "receipt.md"), []byte(receiptTemplate), 0o644); err != nil {
			return "", err
		}
	}
	base := fmt.Sprintf("run-%04d", w.runs)
	data := base + ".ndjson"
	if err := writeItems(filepath.Join(w.dir, data), w.runs, n); err != nil {
		return "", err
	}
	var b strings.Builder
	if err := workflowTemplate.Execute(&b, map[string]any{
		"Run": w.runs, "Data": data, "HookURL": w.hookURL, "Secret": secretName, "SubjectPrefix": subjectPrefix,
	}); err != nil {
		return "", err
	}
	path := filepath.Join(w.dir, base+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// env is what serve and run need beyond the caller's environment.
func (w *workload) env() []string {
	return []string{workflow.SecretEnvPrefix + secretName + "=" + w.secret}
}

// writeItems writes n NDJSON items whose Key is "<run>-<index>".
func writeItems(path string, run, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(bw, `{"Key":"%04d-%06d","Name":"Person %d","Email":"person%d@example.com","Amount":"%d.%02d EUR"}`+"\n",
			run, i, i, i, 10+i%990, i%100)
	}
	if err := bw.Flush(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
