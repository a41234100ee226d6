// Command email is the paperflow step block that sends one email per item
// through the host's mail transport (SMTP with --smtp, else the outbox in
// the data directory) and emits EMAILS_CREATED with the message's real Message-ID.
//
//	blocks:
//	  - id: mail
//	    uses: email
//	    with:
//	      to: "{{Email}}"                    # or a list; cc and bcc alike
//	      subject: "Invoice {{Number}}"
//	      text: "Dear {{First Name}}, …"
//	      html_template: invoice-mail.html   # tags rendered here, values HTML-escaped
//	      attach: [invoice, "{{cv}}"]        # documents of earlier blocks, files uploaded in a field
//	      when:                              # send rules: all or any
//	        all:
//	          - {field: Country, op: equals, value: DE}
//	          - {field: Email, op: is_not_empty}
//
// The host fills in tags in `with:` for each item. It does not HTML-escape
// them, so a field holding "<b>" inserted into `html` comes out as markup;
// for HTML bodies with item values use html_template, which this block
// renders with every inserted value escaped.
//
// An item whose send rules fail is skipped (it succeeds, with
// blocks.<id>.skipped and a reason). An invalid address, a line break in a
// header value, or an attach block without documents fails that item with
// an error naming the field. A mail server's temporary refusal (4xx, a
// dropped connection) is retried by the host; a permanent one (5xx) fails
// the item with the server's reply. Each item's email is sent once: the
// host remembers it under the key run/item/block, so an item redelivered
// after a crash does not send it again.
package main

import "github.com/paperflow/paperflow/plugins/sdk"

func main() { sdk.Serve(func() sdk.Block { return &Block{} }) }
