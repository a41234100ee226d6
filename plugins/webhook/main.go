// Command webhook is the built-in send-webhook block: a sink that delivers
// every event of its workflow (or the types and the jq condition it is
// configured with) to an HTTP endpoint, signed (see plugins/webhook/verify),
// once per event. The host (host/delivery) feeds it from a durable
// JetStream consumer and owns retries, dead letters and the attempt log;
// the sending itself is plugins/websend, which the host's webhook
// subscriptions use too.
//
//	blocks:
//	  - id: notify
//	    uses: webhook
//	    with:
//	      url: https://example.com/hooks/paperflow
//	      secret: "{{ .secrets.WEBHOOK_SECRET }}"
//	      events: [DOCUMENTS_CREATED, SIGNATURES_COMPLETED]
//	      condition: {all: ['.data.documents | length > 0']}
//	      retry: [1m, 5m, 30m, 2h, 12h]
package main

import "github.com/paperflow/paperflow/plugins/sdk"

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
