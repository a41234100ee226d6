// Command http is the built-in http step block: per item it calls an HTTP
// API and hands the answer to later blocks, as Port's synchronous webhook
// actions do. The response's status, headers and JSON body are its outputs
// ({{blocks.crm.status}}, {{blocks.crm.response.customer.id}}); a body that
// is not JSON is {{blocks.crm.text}}.
//
//	blocks:
//	  - id: crm
//	    uses: http
//	    with:
//	      method: POST
//	      url: https://crm.example.com/api/customers
//	      auth: {bearer: "{{ .secrets.CRM_TOKEN }}"}
//	      query: {source: paperflow}
//	      body: {email: "{{Email}}", name: "{{Name}}"}
//	      expect: [200, 201]
//
// Requests follow the webhook block's address rules (no private or loopback
// address unless allowed), retry on 429, 5xx and network errors with
// backoff honouring Retry-After, and are rate limited per host.
package main

import "github.com/paperflow/paperflow/plugins/sdk"

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
