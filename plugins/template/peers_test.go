package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPeers prints documents per second of paperflow beside other tools
// making the same documents: the README letter as PDF beside typst, the
// example form filled beside pdf-lib, the example .docx invoice beside
// docxtemplater. Each side makes one document at a time on one thread,
// warm, in rounds that alternate between the two, so that the load of the
// machine falls on both alike; the figures are medians of the rounds.
// `make bench-peers` installs the peers and runs it; without them
// (PAPERFLOW_PEERS unset) it is skipped. It prints and checks what the
// documents say, never how fast they are made.
//
// The end-to-end pipeline beside Benthos is measured by host/cmd/pfbench
// -peers, not here.
func TestPeers(t *testing.T) {
	modules := os.Getenv("PAPERFLOW_PEERS")
	if modules == "" {
		t.Skip("PAPERFLOW_PEERS is not set: run make bench-peers")
	}
	root, _ := filepath.Abs("../..")
	scripts := filepath.Join(root, "host/cmd/pfbench/peers")
	templates := filepath.Join(root, "examples/templates")
	rounds, window := 5, time.Second
	if s := os.Getenv("PAPERFLOW_PEERS_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}

	latin := map[string]any{
		"First Name": "Zoë", "Last Name": "Ångström", "Email": "zoe.angstrom@example.com", "Company": "Nordic Optics AB",
		"Amount": "980.50", "Due Date": "2026-03-05", "Country": "Sweden",
	}
	unicode := map[string]any{}
	for k, v := range latin {
		unicode[k] = v
	}
	unicode["First Name"], unicode["Company"] = "Łukasz", "Wisła Logistics"
	formText := func(f map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range f {
			if k != "Country" {
				out[k] = v
			}
		}
		return out
	}
	invoice := benchFields()

	cases := []struct {
		what, peer, pkg, script string
		args                    map[string]any
		template                string
		fields                  map[string]any
		goal                    float64
		text                    bool // compare the PDFs' words
	}{
		{
			what: "Markdown letter → PDF", peer: "typst", pkg: "@myriaddreamin/typst-ts-node-compiler", script: "typst-letter.js",
			args: map[string]any{"templates": templates, "fonts": filepath.Join(root, "plugins/template/fonts"), "values": map[string]string{
				"First Name": "Zoë", "Last Name": "Ångström", "Company": "Nordic Optics AB", "Country": "Sweden",
				"Email": "zoe.angstrom@example.com", "Amount": "€980.50", "Due": "5 March 2026", "DueShort": "5 Mar 2026",
			}},
			template: "letter.md", fields: latin, goal: 2, text: true,
		},
		{
			what: "PDF form, Latin-1 values", peer: "pdf-lib", pkg: "pdf-lib", script: "pdflib-form.js",
			args:     map[string]any{"form": filepath.Join(templates, "form.pdf"), "text": formText(latin), "country": "Sweden"},
			template: "form.pdf", fields: latin, goal: 1.5, text: true,
		},
		{
			what: "PDF form, values beyond Latin-1", peer: "pdf-lib+fontkit", pkg: "pdf-lib", script: "pdflib-form.js",
			args: map[string]any{"form": filepath.Join(templates, "form.pdf"), "text": formText(unicode), "country": "Sweden",
				"font": filepath.Join(root, "plugins/template/fonts/DejaVuSans.ttf")},
			template: "form.pdf", fields: unicode, goal: 1.5, text: true,
		},
		{
			what: ".docx invoice", peer: "docxtemplater", pkg: "docxtemplater", script: "docxtemplater-invoice.js",
			args: map[string]any{"invoice": filepath.Join(templates, "invoice.docx"), "values": invoice, "formatted": map[string]string{
				`Due Date | date "2 January 2006"`: "5 March 2026", `Amount | currency "EUR"`: "€2,100.75", `Amount | number 2`: "2,100.75",
			}},
			template: "invoice.docx", fields: invoice, goal: 10,
		},
	}
	fmt.Printf("peers: one document at a time on one thread, warm; %d alternating rounds of %v each, medians\n", rounds, window)
	for _, c := range cases {
		blk, _ := mustConfigure(t, templates, map[string]any{"template": c.template})
		it := item(t, "1", c.fields)
		ours := func() []byte {
			m := blk.render(it)
			if m.err != nil {
				t.Fatal(m.err)
			}
			return m.files[0].data
		}
		p := startPeer(t, modules, filepath.Join(scripts, c.script), c.args)
		theirs := p.save(t)
		mine := ours()
		if c.text {
			a, b := words(t, mine), words(t, theirs)
			if !slices.Equal(a, b) {
				t.Errorf("%s: the words differ\npaperflow: %q\n%s: %q", c.what, a, c.peer, b)
			}
		}
		var us, them []float64
		for range rounds {
			start, n := time.Now(), 0
			for time.Since(start) < window {
				ours()
				n++
			}
			us = append(us, float64(n)/time.Since(start).Seconds())
			them = append(them, p.run(t, window))
		}
		p.stop()
		u, o := median(us), median(them)
		fmt.Printf("  %-32s paperflow %7.0f/s   %-24s %7.0f/s   ratio %6.2f (goal ≥ %g)\n",
			c.what, u, c.peer+" "+peerVersion(modules, c.pkg), o, u/o, c.goal)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// words is the sorted word list pdftotext reads from a PDF.
func words(t *testing.T, pdf []byte) []string {
	w := strings.Fields(pdfText(t, pdf, ""))
	slices.Sort(w)
	return w
}

// peerVersion is the installed version of a peer's package.
func peerVersion(modules, pkg string) string {
	b, err := os.ReadFile(filepath.Join(modules, pkg, "package.json"))
	var v struct{ Version string }
	if err != nil || json.Unmarshal(b, &v) != nil {
		return "?"
	}
	return v.Version
}

// peer is a running peer script (see host/cmd/pfbench/peers/harness.js).
type peer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startPeer(t *testing.T, modules, script string, args map[string]any) *peer {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command("node", script, string(a))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	p := &peer{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(p.stop)
	if l := p.line(t); l != "ready" {
		t.Fatalf("%s: %q", script, l)
	}
	return p
}

func (p *peer) line(t *testing.T) string {
	if !p.out.Scan() {
		t.Fatalf("%s ended: %v", p.cmd.Path, p.out.Err())
	}
	return p.out.Text()
}

func (p *peer) save(t *testing.T) []byte {
	file := filepath.Join(t.TempDir(), "peer.out")
	fmt.Fprintf(p.in, "save %s\n", file)
	if l := p.line(t); l != "ok" {
		t.Fatalf("save: %q", l)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run has the peer make documents for d and returns its documents per
// second.
func (p *peer) run(t *testing.T, d time.Duration) float64 {
	fmt.Fprintf(p.in, "run %d\n", d.Milliseconds())
	var n, ms float64
	if _, err := fmt.Sscan(p.line(t), &n, &ms); err != nil {
		t.Fatal(err)
	}
	return n / (ms / 1000)
}

func (p *peer) stop() {
	if p.in != nil {
		p.in.Close()
		p.in = nil
		p.cmd.Wait()
	}
}
