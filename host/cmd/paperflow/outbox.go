package main

import (
	"fmt"
	"mime"
	"net/mail"
	"os"

	"github.com/spf13/cobra"
)

func newOutboxCmd(cfg *config) *cobra.Command {
	return &cobra.Command{
		Use:   "outbox",
		Short: "List the messages in the outbox (mail written as .eml files when no SMTP is set)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := cfg.outbox().List()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, f := range files {
				fh, err := os.Open(f)
				if err != nil {
					return err
				}
				m, err := mail.ReadMessage(fh)
				fh.Close()
				if err != nil {
					fmt.Fprintf(out, "%s: unreadable: %v\n", f, err)
					continue
				}
				subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
				if err != nil {
					subject = m.Header.Get("Subject")
				}
				fmt.Fprintf(out, "%s\n  To: %s\n  Subject: %s\n", f, m.Header.Get("To"), subject)
			}
			fmt.Fprintf(out, "%d message(s) in %s\n", len(files), cfg.outbox().Dir)
			return nil
		},
	}
}
