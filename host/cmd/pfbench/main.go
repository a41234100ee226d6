// Command pfbench measures paperflow's pipeline and prints each figure
// beside a baseline measured in the same run, as a ratio:
//
//   - items/s through a workflow of three no-op steps as plugin processes,
//     beside the same steps embedded in the host (same engine, same NATS
//     checkpoints; only the process boundary differs);
//   - events/s validated and published, beside publishing the same bytes
//     without validation;
//   - end to end, items/s from a JSON file to the README letter as PDF,
//     emailed to the outbox and both events posted by the webhook sink to
//     a local receiver (every delivery and every email counted once),
//     beside rendering the same letters alone; also with the outbox
//     writing an .eml file per email, and with mail built but not kept;
//   - csv rows → an event per row → the webhook sink, and with -benthos,
//     Benthos doing csv → HMAC → http_client on the same rows to the same
//     receiver, in alternating rounds.
//
// `make bench` runs it; `make bench-peers` runs it with -benthos.
package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/events"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
	"github.com/paperflow/paperflow/plugins/sdk"
)

var (
	workers, batchSize, letters, rows int
	letterRounds                      int
	only                              string
	benthos, examples, memProfile     string
)

func main() {
	pluginDir := flag.String("plugins", "bin/plugins", "directory with the built csv and noop blocks")
	items := flag.Int("items", 50000, "items per pipeline run (0: skip)")
	nEvents := flag.Int("events", 50000, "events to publish (0: skip)")
	flag.IntVar(&workers, "workers", 0, "batches in flight (0: engine default)")
	flag.IntVar(&batchSize, "batch", 0, "items per block call (0: engine default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file, and one per block process into the directory FILE.blocks")
	flag.StringVar(&memProfile, "memprofile", "", "write a heap profile at the end of each end-to-end run, NATS still open, to this file + \".\" + the run's name")
	flag.IntVar(&letters, "letters", 6000, "items of the end-to-end letter run, timed from the run's start, block processes starting included (0: skip)")
	flag.IntVar(&letterRounds, "rounds", 1, "rounds of the end-to-end letter runs, each variant in turn")
	flag.StringVar(&only, "variants", "", "comma-separated letter variants to run (render, letters, letters-eml, letters-no-outbox; default all), e.g. one alone under -cpuprofile")
	flag.IntVar(&rows, "rows", 20000, "rows of the csv → event → webhook run (0: skip)")
	flag.StringVar(&benthos, "benthos", "", "Benthos binary: only run the csv → webhook comparison beside it")
	flag.StringVar(&examples, "examples", "examples/templates", "directory with letter.md and logo.png")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pfbench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
		blocks := *cpuProfile + ".blocks"
		if err := os.MkdirAll(blocks, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "pfbench:", err)
			os.Exit(1)
		}
		os.Setenv(sdk.CPUProfileEnv, blocks)
	}
	if err := run(*pluginDir, *items, *nEvents); err != nil {
		fmt.Fprintln(os.Stderr, "pfbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// writeHeapProfile writes the live heap after a collection, so the
// profile shows what the run kept rather than what it churned.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func run(pluginDir string, items, nEvents int) error {
	dir, err := os.MkdirTemp("", "pfbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wfFile, err := writeWorkflow(dir, items)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(pluginDir)
	reg := pluginhost.Registry{Dir: abs}
	recv, err := startReceiver()
	if err != nil {
		return err
	}
	if benthos != "" {
		return beside(dir, reg, recv)
	}

	if items > 0 {
		// CPU per item does not depend on what else the machine runs.
		self0, children0 := cpuTimes()
		embedded, err := pipeline(dir, "embedded", wfFile, reg, map[string]sdk.Block{"noop": noop{}})
		if err != nil {
			return err
		}
		self1, children1 := cpuTimes()
		plugins, err := pipeline(dir, "plugins", wfFile, reg, nil)
		if err != nil {
			return err
		}
		self2, children2 := cpuTimes()
		perItem := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(items) }
		fmt.Printf("pipeline: %d items, csv source + 3 no-op steps, durable checkpoints per (batch, block)\n", items)
		fmt.Printf("  embedded steps (baseline)  %9.0f items/s               CPU per item: host %.1f µs, blocks %.1f µs\n", embedded, perItem(self1-self0), perItem(children1-children0))
		fmt.Printf("  plugin processes           %9.0f items/s   ratio %.2f   CPU per item: host %.1f µs, blocks %.1f µs\n", plugins, plugins/embedded, perItem(self2-self1), perItem(children2-children1))
	}
	if nEvents > 0 {
		raw, validated, err := publishing(dir, nEvents)
		if err != nil {
			return err
		}
		fmt.Printf("events: %d DOCUMENTS_CREATED, batches of 64\n", nEvents)
		fmt.Printf("  raw JetStream publish (baseline)  %9.0f events/s\n", raw)
		fmt.Printf("  validated + published             %9.0f events/s   ratio %.2f\n", validated, validated/raw)
	}

	if letters > 0 {
		letter, err := os.ReadFile(filepath.Join(examples, "letter.md"))
		if err != nil {
			return err
		}
		logo, err := os.ReadFile(filepath.Join(examples, "logo.png"))
		if err != nil {
			return err
		}
		files := map[string][]byte{"letter.md": letter, "logo.png": logo, "items.ndjson": letterItems(letters)}
		// The variants run in turn, round after round, so a change in
		// the machine's load falls on all of them; each figure is the
		// items of all rounds over their summed time.
		variants := []struct {
			name, wf string
			events   int
			mail     func(dir string) mail.Transport // nil: a spooled outbox
			label    string
		}{
			{"render", renderWorkflow, 0, nil, "letters rendered and stored (baseline)"},
			{"letters", letterWorkflow, 2, nil, "whole pipeline (spooled outbox)"},
			{"letters-eml", letterWorkflow, 2, func(dir string) mail.Transport { return mail.Outbox{Dir: dir} }, "whole pipeline, an .eml file per email"},
			{"letters-no-outbox", letterWorkflow, 2, func(string) mail.Transport { return builtOnly{} }, "whole pipeline, mail built, not written"},
		}
		if only != "" {
			keep := variants[:0]
			for _, v := range variants {
				if slices.Contains(strings.Split(only, ","), v.name) {
					keep = append(keep, v)
				}
			}
			if len(keep) == 0 {
				return fmt.Errorf("-variants %q: none of render, letters, letters-eml, letters-no-outbox", only)
			}
			variants = keep
		}
		seconds := make([]float64, len(variants))
		// CPU per item does not depend on what else the machine runs.
		hostCPU := make([]time.Duration, len(variants))
		blockCPU := make([]time.Duration, len(variants))
		for round := range letterRounds {
			for i, v := range variants {
				name := fmt.Sprintf("%s-%d", v.name, round)
				outbox := filepath.Join(dir, name, "outbox")
				var transport mail.Transport
				if v.mail != nil {
					transport = v.mail(outbox)
				}
				self0, children0 := cpuTimes()
				rate, err := endToEnd(dir, name, v.wf, files, letters, v.events, reg, nil, recv, transport)
				if err != nil {
					return err
				}
				self1, children1 := cpuTimes()
				hostCPU[i] += self1 - self0
				blockCPU[i] += children1 - children0
				if _, isOutbox := transport.(mail.Outbox); v.events > 0 && (transport == nil || isOutbox) {
					if err := mailedOnce(outbox, letters); err != nil {
						return err
					}
				}
				seconds[i] += float64(letters) / rate
			}
		}
		fmt.Printf("end to end: %d items × %d round(s), json → letter PDF → email (outbox) → webhook sink (2 events per item, each delivered once; each email once)\n", letters, letterRounds)
		n := float64(letters * letterRounds)
		base := n / seconds[0] // the first variant: render, unless -variants left it out
		perItem := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
		for i, v := range variants {
			rate := n / seconds[i]
			ratio := ""
			if i > 0 {
				ratio = fmt.Sprintf("ratio %.2f", rate/base)
			}
			fmt.Printf("  %-40s %7.0f items/s   %-10s  CPU per item: host %.2f ms, blocks %.2f ms\n", v.label, rate, ratio, perItem(hostCPU[i]), perItem(blockCPU[i]))
		}
	}
	if rows > 0 {
		self0, children0 := cpuTimes()
		r, err := signedRows(dir, "signed", reg, recv)
		if err != nil {
			return err
		}
		self1, children1 := cpuTimes()
		perRow := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(rows) }
		fmt.Printf("csv → event per row → webhook sink: %d rows, each delivered once  %7.0f rows/s   CPU per row: host %.1f µs, blocks %.1f µs\n", rows, r, perRow(self1-self0), perRow(children1-children0))
	}
	return nil
}

// signedRows runs csv → emitStep → webhook sink over rows and returns
// rows/s.
func signedRows(dir, name string, reg pluginhost.Registry, recv *receiver) (float64, error) {
	files := map[string][]byte{"rows.csv": csvRows(rows)}
	return endToEnd(dir, name, signedWorkflow, files, rows, 1, reg, map[string]sdk.Block{"noop": emitStep{}}, recv, nil)
}

// beside runs paperflow's csv → event → webhook and Benthos's csv → HMAC
// → http_client on the same rows, alternately, and prints the ratio of
// the totals.
func beside(dir string, reg pluginhost.Registry, recv *receiver) error {
	if err := os.WriteFile(filepath.Join(dir, "rows.csv"), csvRows(rows), 0o644); err != nil {
		return err
	}
	const rounds = 2
	var pf, bt []float64
	for i := range rounds {
		p, err := signedRows(dir, fmt.Sprintf("signed-%d", i), reg, recv)
		if err != nil {
			return err
		}
		b, err := runBenthos(benthos, dir, rows, recv)
		if err != nil {
			return err
		}
		pf, bt = append(pf, p), append(bt, b)
	}
	fmt.Printf("pipeline beside Benthos: %d csv rows → signed POST to a local receiver, each delivered once, %d alternating rounds\n", rows, rounds)
	for i := range rounds {
		fmt.Printf("  round %d  paperflow (csv → event step → webhook sink) %7.0f rows/s   Benthos (csv → HMAC → http_client) %7.0f rows/s   ratio %.2f\n", i+1, pf[i], bt[i], pf[i]/bt[i])
	}
	return nil
}

func writeWorkflow(dir string, n int) (string, error) {
	f, err := os.Create(filepath.Join(dir, "items.csv"))
	if err != nil {
		return "", err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"Number", "Name", "Email", "Amount"})
	for i := range n {
		_ = w.Write([]string{strconv.Itoa(i), "Customer " + strconv.Itoa(i), fmt.Sprintf("c%d@example.com", i), strconv.Itoa(i * 7)})
	}
	w.Flush()
	if err := f.Close(); err != nil {
		return "", err
	}
	wf := `name: bench
source: {uses: csv, with: {path: items.csv}}
blocks:
  - {id: a, uses: noop}
  - {id: b, uses: noop}
  - {id: c, uses: noop}
`
	p := filepath.Join(dir, "bench.yaml")
	return p, os.WriteFile(p, []byte(wf), 0o644)
}

// pipeline runs the workflow on a fresh embedded NATS and returns items/s.
func pipeline(dir, name, wfFile string, reg pluginhost.Registry, emb map[string]sdk.Block) (float64, error) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := bus.Open(ctx, bus.Options{DataDir: filepath.Join(dir, name)})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	e, err := engine.New(ctx, engine.Options{Bus: b, Plugins: reg, Mail: mail.Outbox{Dir: filepath.Join(dir, name, "outbox")}, Log: log, Embedded: emb, Workers: workers, BatchSize: batchSize})
	if err != nil {
		return 0, err
	}
	wf, problems := workflow.Load(wfFile, e.Catalog())
	if len(problems) > 0 {
		return 0, problems
	}
	sum, err := e.Run(ctx, wf, engine.RunOptions{})
	if err != nil {
		return 0, err
	}
	if sum.Failed > 0 {
		return 0, fmt.Errorf("%s: %d items failed: %v", name, sum.Failed, sum.Errors[0])
	}
	return float64(sum.Items) / sum.Seconds, nil
}

// publishing measures raw JetStream publishing against validate+publish.
func publishing(dir string, n int) (raw, validated float64, err error) {
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{DataDir: filepath.Join(dir, "events")})
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	if _, err := events.EnsureStream(ctx, b.JS, 1, time.Hour); err != nil {
		return 0, 0, err
	}
	v, err := events.NewValidator()
	if err != nil {
		return 0, 0, err
	}
	pub := events.NewPublisher(b.JS, v)
	mk := func(run string) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			data := map[string]any{"documents": []map[string]any{{"id": "d" + strconv.Itoa(i), "url": "http://127.0.0.1:8080/documents/d", "name": "Invoice.pdf", "mimetype": "application/pdf"}}}
			_, out[i], _ = events.New(events.Metadata{Workflow: "bench", RunID: run, ItemID: strconv.Itoa(i), BlockID: "t", CreatedAt: time.Now()}, events.DocumentsCreated, data)
		}
		return out
	}
	rawEvents, valEvents := mk("raw"), mk("validated")
	start := time.Now()
	for i := 0; i < n; i += 64 {
		batch := rawEvents[i:min(i+64, n)]
		futures := make([]jetstream.PubAckFuture, len(batch))
		for j, ev := range batch {
			var env struct {
				ID string `json:"eventId"`
			}
			_ = json.Unmarshal(ev, &env)
			futures[j], err = b.JS.PublishAsync(events.Subject("bench", events.DocumentsCreated), ev, jetstream.WithMsgID(env.ID))
			if err != nil {
				return 0, 0, err
			}
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return 0, 0, err
			}
		}
	}
	raw = float64(n) / time.Since(start).Seconds()
	start = time.Now()
	for i := 0; i < n; i += 64 {
		for _, err := range pub.PublishBatch(ctx, valEvents[i:min(i+64, n)]) {
			if err != nil {
				return 0, 0, err
			}
		}
	}
	validated = float64(n) / time.Since(start).Seconds()
	return raw, validated, nil
}

type noop struct{}

func (noop) Describe() sdk.Descriptor {
	return sdk.Descriptor{Name: "noop", Kind: sdk.KindStep, Version: "bench", ConfigSchema: json.RawMessage(`{"type":"object"}`)}
}
func (noop) Configure(context.Context, sdk.Config) error { return nil }
func (noop) Process(_ context.Context, items []sdk.Item) []sdk.Result {
	return make([]sdk.Result, len(items))
}
