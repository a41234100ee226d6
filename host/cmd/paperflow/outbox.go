package main

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"strings"

	"github.com/spf13/cobra"

	hostmail "github.com/paperflow/paperflow/host/mail"
)

func newOutboxCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "outbox",
		Short: "List the messages in the outbox (mail kept in the data directory when no SMTP is set)",
		Long: `List the messages in the outbox: mail kept in <data-dir>/outbox when no SMTP
server is set. Messages are appended to spool segments (mail-000001.spool, …);
.eml files of earlier versions are listed first. 'paperflow outbox show <Message-ID>'
prints one message, ready to save as an .eml file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := cfg.outbox()
			entries, err := o.Messages()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, e := range entries {
				h, err := readHeader(e)
				if err != nil {
					fmt.Fprintf(out, "%s: unreadable: %v\n", e.Location(), err)
					continue
				}
				subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
				if err != nil {
					subject = h.Get("Subject")
				}
				fmt.Fprintf(out, "%s\n  Message-ID: %s\n  To: %s\n  Subject: %s\n", e.Location(), e.MessageID, h.Get("To"), subject)
			}
			fmt.Fprintf(out, "%d message(s) in %s\n", len(entries), o.Dir)
			return nil
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "show <Message-ID>",
		Short: "Print one message of the outbox as it would be sent (save it as .eml to open it in a mail client)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := cfg.outbox()
			id := args[0]
			if !strings.HasPrefix(id, "<") {
				// The angle brackets are part of the id; shells make them a chore.
				id = "<" + id + ">"
			}
			raw, err := o.Find(id)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no message %s in the outbox %s (see paperflow outbox)", args[0], o.Dir)
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(raw)
			return err
		},
	})
	return cmd
}

// readHeader reads only a message's header: a listing of a large outbox
// need not read every attachment.
func readHeader(e hostmail.Entry) (mail.Header, error) {
	f, err := os.Open(e.File)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if e.Offset >= 0 {
		r = io.NewSectionReader(f, e.Offset, e.Size)
	}
	m, err := mail.ReadMessage(r)
	if err != nil {
		return nil, err
	}
	return m.Header, nil
}
