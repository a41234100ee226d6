// Command webhook-receiver is an example of a service that receives
// paperflow's webhooks: it verifies every delivery's signature with
// plugins/webhook/verify (the raw body, the secret, the timestamp), drops
// duplicates by webhook-id, and prints one line per event.
//
//	go run ./examples/webhook-receiver -listen 127.0.0.1:9000 -secret "$WEBHOOK_SECRET"
//
// See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webhook-receiver:", err)
		os.Exit(1)
	}
}
