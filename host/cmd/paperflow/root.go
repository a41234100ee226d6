package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paperflow/paperflow/host/bus"
	"github.com/paperflow/paperflow/host/engine"
	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/pluginhost"
	"github.com/paperflow/paperflow/host/workflow"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// config is the host configuration: every setting is a flag and an
// environment variable.
type config struct {
	natsURL    string
	dataDir    string
	httpAddr   string
	publicURL  string
	apiToken   string
	smtpURL    string
	pluginDir  string
	secretFile string
	logLevel   string
	batchSize  int
	// replicas of paperflow's streams and buckets; 0 picks 3 on a
	// cluster of 3 or more nodes, else 1.
	replicas int
	// itemTimeout: how long a silent host keeps its items and its source.
	itemTimeout time.Duration
	// detailRetention: how long a completed run's checkpoints are kept.
	detailRetention time.Duration

	hiddenOnce sync.Once
	hidden     workflow.Secrets // logSecrets, read once
	// webhookAllow lists private ranges webhooks may reach; blocks get it
	// in their settings (sdk.SettingWebhookAllow).
	webhookAllow string
	// signingCert is the PEM file that seals signed PDFs; blocks get it in
	// their settings (sdk.SettingSigningCert).
	signingCert string
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newRootCmd() *cobra.Command {
	cfg := &config{}
	root := &cobra.Command{
		Use:   "paperflow",
		Short: "Document, email and e-signature automation from workflow files",
		Long: `paperflow runs workflow files: a source (CSV, JSON) and a chain of blocks
(template, email, signature, webhook, or your own) that every source item
runs through. Blocks are plugin processes; events are validated against
JSON Schemas and published on NATS.

Quick start:
  paperflow validate workflows/hello.yaml
  paperflow run workflows/hello.yaml
  paperflow events tail`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	f := root.PersistentFlags()
	f.StringVar(&cfg.natsURL, "nats", env("PAPERFLOW_NATS_URL", ""), "NATS server URL; empty starts an embedded server in the data directory [PAPERFLOW_NATS_URL]")
	f.StringVar(&cfg.dataDir, "data-dir", env("PAPERFLOW_DATA_DIR", "paperflow-data"), "data directory: embedded NATS store, outbox [PAPERFLOW_DATA_DIR]")
	f.StringVar(&cfg.httpAddr, "http", env("PAPERFLOW_HTTP_ADDR", "127.0.0.1:8080"), "HTTP listen address of serve [PAPERFLOW_HTTP_ADDR]")
	f.StringVar(&cfg.publicURL, "public-url", env("PAPERFLOW_PUBLIC_URL", ""), "base URL for links in events and emails (default http://<--http>) [PAPERFLOW_PUBLIC_URL]")
	f.StringVar(&cfg.apiToken, "api-token", env("PAPERFLOW_API_TOKEN", ""), "token for the HTTP API [PAPERFLOW_API_TOKEN]")
	f.StringVar(&cfg.smtpURL, "smtp", env("PAPERFLOW_SMTP_URL", ""), "SMTP URL; empty writes mail to the outbox in the data directory [PAPERFLOW_SMTP_URL]")
	f.StringVar(&cfg.pluginDir, "plugins", env("PAPERFLOW_PLUGIN_DIR", ""), "directory of block plugins (default: plugins/ next to the paperflow binary) [PAPERFLOW_PLUGIN_DIR]")
	f.StringVar(&cfg.secretFile, "secrets", env("PAPERFLOW_SECRETS_FILE", ""), "file of NAME=value secrets, besides PAPERFLOW_SECRET_<NAME> variables [PAPERFLOW_SECRETS_FILE]")
	f.StringVar(&cfg.webhookAllow, "webhook-allow", env("PAPERFLOW_WEBHOOK_ALLOW", ""), "CIDRs of private addresses webhooks may reach, e.g. 127.0.0.1/32 [PAPERFLOW_WEBHOOK_ALLOW]")
	f.StringVar(&cfg.signingCert, "signing-cert", env("PAPERFLOW_SIGNING_CERT", ""), "PEM file with the certificate (and chain) and key that seal signed PDFs; empty: a self-signed one made on first use and kept in NATS [PAPERFLOW_SIGNING_CERT]")
	f.IntVar(&cfg.batchSize, "batch", envInt("PAPERFLOW_BATCH", 64), "items per block call, for runs this process works on [PAPERFLOW_BATCH]")
	f.IntVar(&cfg.replicas, "replicas", envInt("PAPERFLOW_NATS_REPLICAS", 0), "replicas of paperflow's streams, KV buckets and object store; 0: 3 on a NATS cluster of 3+ nodes, else 1 [PAPERFLOW_NATS_REPLICAS]")
	f.DurationVar(&cfg.itemTimeout, "item-timeout", envDuration("PAPERFLOW_ITEM_TIMEOUT", 30*time.Second), "how long a host may go silent before its items and the source it reads pass to another host [PAPERFLOW_ITEM_TIMEOUT]")
	f.DurationVar(&cfg.detailRetention, "detail-retention", envDuration("PAPERFLOW_DETAIL_RETENTION", engine.DefaultDetailRetention), "how long a completed run's per-item detail (checkpoints) is kept; runs and outcomes are kept regardless [PAPERFLOW_DETAIL_RETENTION]")
	f.StringVar(&cfg.logLevel, "log-level", env("PAPERFLOW_LOG_LEVEL", "warn"), "log level: debug, info, warn, error [PAPERFLOW_LOG_LEVEL]")
	hideDefaults(f, "api-token", "smtp", "nats")
	root.AddCommand(newRunCmd(cfg), newValidateCmd(cfg), newPluginsCmd(cfg), newEventsCmd(cfg), newServeCmd(cfg), newOutboxCmd(cfg), newRunsCmd(cfg), newWebhooksCmd(cfg), newSignaturesCmd(cfg), newVersionCmd())
	root.AddCommand(newBackupCmd(cfg))
	root.AddCommand(newRestoreCmd(cfg))
	root.AddCommand(newDeployCmd(cfg))
	root.AddCommand(newWorkflowsCmd(cfg))
	return root
}

func (c *config) logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		level = slog.LevelWarn
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(workflow.RedactHandler(h, c.logSecrets()))
}

// logSecrets are the values no log line may show: the workflow secrets,
// the API token and the passwords in the SMTP and NATS URLs.
// It is worked out once per command: every logger shares it.
func (c *config) logSecrets() workflow.Secrets {
	c.hiddenOnce.Do(func() { c.hidden = c.readLogSecrets() })
	return c.hidden
}

func (c *config) readLogSecrets() workflow.Secrets {
	out := workflow.Secrets{}
	if s, err := workflow.LoadSecrets(c.secretFile, os.Environ()); err == nil {
		maps.Copy(out, s)
	}
	if c.apiToken != "" {
		out["API_TOKEN"] = c.apiToken
	}
	if t := os.Getenv("PAPERFLOW_CONSOLE_READONLY_TOKEN"); t != "" {
		out["CONSOLE_READONLY_TOKEN"] = t
	}
	for name, raw := range map[string]string{"SMTP_PASSWORD": c.smtpURL, "NATS_PASSWORD": c.natsURL} {
		for _, one := range strings.Split(raw, ",") {
			if u, err := url.Parse(strings.TrimSpace(one)); err == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok {
					out[name] = pw
				}
			}
		}
	}
	return out
}

// hideDefaults keeps values taken from the environment out of --help:
// they may be credentials.
func hideDefaults(f *pflag.FlagSet, names ...string) {
	for _, n := range names {
		if fl := f.Lookup(n); fl != nil && fl.DefValue != "" {
			fl.DefValue = "from the environment"
		}
	}
}

func (c *config) registry() pluginhost.Registry {
	dir := c.pluginDir
	if dir == "" {
		dir = pluginhost.DefaultDir()
	}
	// Settings meant for blocks reach them in Configure.
	return pluginhost.Registry{Dir: dir, Settings: pluginhost.HostSettings(c.webhookAllow, c.signingCert)}
}

func (c *config) public() string {
	if c.publicURL != "" {
		return strings.TrimRight(c.publicURL, "/")
	}
	return "http://" + c.httpAddr
}

func (c *config) outbox() mail.Outbox {
	return mail.Outbox{Dir: filepath.Join(c.dataDir, "outbox"), Spool: true}
}

// openEngine connects to NATS (embedded or external) and prepares an
// engine. listen, when set, lets other processes reach an embedded server.
// mailTransport is SMTP to --smtp when it is set, else the outbox; the
// second result is the SMTP URL's default From address (?from=).
func (c *config) mailTransport(log *slog.Logger) (mail.Transport, string, error) {
	if c.smtpURL == "" {
		return c.outbox(), "", nil
	}
	cfg, err := mail.ParseSMTPURL(c.smtpURL)
	if err != nil {
		return nil, "", fmt.Errorf("--smtp: %w", err)
	}
	cfg.Log = log
	s, err := mail.NewSMTP(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("--smtp: %w", err)
	}
	return s, s.From(), nil
}

func (c *config) openEngine(ctx context.Context, log *slog.Logger, listen string) (*bus.Bus, *engine.Engine, error) {
	if err := c.makeDataDir(); err != nil {
		return nil, nil, err
	}
	transport, mailFrom, err := c.mailTransport(log)
	if err != nil {
		return nil, nil, err
	}
	b, err := bus.Open(ctx, bus.Options{URL: c.natsURL, DataDir: c.dataDir, Listen: listen, Replicas: c.replicas, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	e, err := engine.New(ctx, engine.Options{
		Bus: b, Plugins: c.registry(), PublicURL: c.public(), Mail: transport, MailFrom: mailFrom, Log: log, BatchSize: c.batchSize,
		ItemTimeout: c.itemTimeout, DetailRetention: c.detailRetention,
	})
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return b, e, nil
}

// makeDataDir creates the data directory, private to its owner, for the
// commands that keep things in it (serve.json, the outbox, the embedded
// store) even when NATS is elsewhere.
func (c *config) makeDataDir() error {
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("create the data directory %s: %w (set --data-dir or PAPERFLOW_DATA_DIR)", c.dataDir, err)
	}
	return nil
}

// inspectEngine is an engine on an open bus for commands that read or
// queue state (runs, resend, following a handed-over run): it runs no
// blocks, so mail stays with the outbox.
func (c *config) inspectEngine(ctx context.Context, b *bus.Bus, log *slog.Logger) (*engine.Engine, error) {
	return engine.New(ctx, engine.Options{Bus: b, Plugins: c.registry(), PublicURL: c.public(), Mail: c.outbox(), Log: log, DetailRetention: c.detailRetention})
}

// printJSON writes v indented, the --output json / --json form of every
// command.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the paperflow version and block protocol version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "paperflow %s (block protocol v1)\n", version)
		},
	}
}
