// Command signature is the paperflow step block that asks people to sign
// an item's documents in their browser and makes the signed PDF.
//
//	blocks:
//	  - id: contract
//	    uses: template
//	    with: {template: contract.md, name: "Contract {{Last Name}}"}
//	  - id: sign
//	    uses: signature
//	    with:
//	      documents: [contract]            # earlier blocks' PDFs
//	      recipients:
//	        - {email: "{{Email}}", name: "{{First Name}} {{Last Name}}", order: 1}
//	        - {email: hr@example.com, name: "HR", order: 2}
//	      subject: "Your contract, {{First Name}}"
//	      message: "Please read and sign your contract."
//	      expires_in: 30d                  # default 720h
//	      remind_every: 72h                # optional
//
// For each item it stores a signature request in the host's KV, mails
// each recipient of the lowest signing order a personal link
// (<public URL>/blocks/<workflow>/<block>/sign/<token>), registers the
// expiry and reminders with the host's scheduler, and emits
// SIGNATURES_REQUESTED. Recipients with the same order sign in parallel;
// the next order is invited once all of the previous one signed.
//
// The signing page (served by this block through the host's HTTP server)
// shows the documents, asks for consent and a typed (optionally drawn)
// signature, and offers to decline with a reason. When the last recipient
// signs, the block appends a signature page and an audit trail page to
// each PDF, seals it with a PDF digital signature (package pdfsign),
// stores it, mails it to every recipient and emits SIGNATURES_COMPLETED,
// once. A decline ends the request with SIGNATURES_DECLINED instead.
//
// Two routes answer only the host itself (sdk.HostCall: the host sets the
// HTTP call's internal flag, which its public server never does; from a
// browser they are "Page not found"). The paperflow signatures commands
// use them, so the host never reads this block's state:
//
//	GET  api/requests?run=RUN      the requests (of one run) as JSON: id, run_id,
//	                               item_id, status, expires_at and each
//	                               recipient's email, order, status,
//	                               invited_at and signed_at
//	POST api/requests/{id}/resend  {"email": "..."}: queue a fresh link for that
//	                               recipient (202); 404 {"code": "no_request"}
//	                               or {"code": "no_recipient"} otherwise
//
// The process is stateless: any process of the block on any host can serve
// any link or callback, and every change of a request is a
// compare-and-set in the KV, so a double submit signs once and the final
// event goes out once.
package main

import "github.com/paperflow/paperflow/plugins/sdk"

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
