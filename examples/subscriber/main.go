// Command subscriber is an example of a service that follows paperflow's
// events on NATS: it reads the JetStream stream PAPERFLOW_EVENTS with an
// ordered consumer and prints one line per event, or the raw JSON.
//
//	go run ./examples/subscriber -nats nats://127.0.0.1:4222 -workflow invoices
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
		fmt.Fprintln(os.Stderr, "subscriber:", err)
		os.Exit(1)
	}
}
