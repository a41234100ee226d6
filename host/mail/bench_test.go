package mail_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/mail/smtptest"
)

// BenchmarkSendWithPDF measures emails per second with a ~30 KB PDF
// attachment to a local SMTP server, through our transport (mail.Build +
// SMTP.Send, as Engine.SendMail does) and, in the same run and against the
// same server, through go-mail's own client sending the same message on
// one kept-open connection. It reports both rates and their ratio
// (paperflow/go-mail; above 1 is faster than the library alone).
func BenchmarkSendWithPDF(b *testing.B) {
	srv := smtptest.Start(b, smtptest.Options{Discard: true})
	pdf := randomBytes(b, 30_000)
	tr := newSMTP(b, srv, "")

	client, err := gomail.NewClient(srv.Host, gomail.WithPort(srv.Port), gomail.WithTLSPolicy(gomail.NoTLS))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := client.DialWithContext(ctx); err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	m := sampleMessage(pdf)
	libMsg := func() *gomail.Msg {
		msg := gomail.NewMsg()
		must(b, msg.From(m.From))
		must(b, msg.ReplyTo(m.ReplyTo))
		must(b, msg.To(m.To...))
		must(b, msg.Cc(m.Cc...))
		must(b, msg.Bcc(m.Bcc...))
		msg.Subject(m.Subject)
		msg.SetMessageID()
		msg.SetDate()
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
		must(b, msg.AttachReader("Invoice 1.pdf", bytes.NewReader(pdf), gomail.WithFileContentType("application/pdf")))
		return msg
	}

	var ours, lib time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		built, err := mail.Build(m, "bench.localhost", start)
		if err != nil {
			b.Fatal(err)
		}
		if err := tr.Send(ctx, built); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := client.Send(libMsg()); err != nil {
			b.Fatal(err)
		}
		ours, lib = ours+mid.Sub(start), lib+time.Since(mid)
	}
	b.StopTimer()
	if got, want := len(srv.Messages()), 2*b.N; got != want {
		b.Fatalf("server received %d messages, want %d", got, want)
	}
	oursRate := float64(b.N) / ours.Seconds()
	libRate := float64(b.N) / lib.Seconds()
	b.ReportMetric(oursRate, "paperflow-emails/s")
	b.ReportMetric(libRate, "go-mail-emails/s")
	b.ReportMetric(oursRate/libRate, "ratio")
	b.ReportMetric(float64(srv.Connections()), "connections")
}

// BenchmarkSendWithPDFParallel is the same message from several
// goroutines at once, as the engine's workers send: up to MaxConns (4)
// connections in use.
func BenchmarkSendWithPDFParallel(b *testing.B) {
	srv := smtptest.Start(b, smtptest.Options{Discard: true})
	m := sampleMessage(randomBytes(b, 30_000))
	tr := newSMTP(b, srv, "")
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			built, err := mail.Build(m, "bench.localhost", time.Now())
			if err != nil {
				b.Error(err)
				return
			}
			if err := tr.Send(context.Background(), built); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "emails/s")
	b.ReportMetric(float64(srv.Connections()), "connections")
}

func must(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBuildWithPDF measures building a message with a 30 KB PDF, the
// mail the letter pipeline sends: most of it is base64.
func BenchmarkBuildWithPDF(b *testing.B) {
	m := sampleMessage(randomBytes(b, 30_000))
	b.ReportAllocs()
	b.SetBytes(30_000)
	for b.Loop() {
		if _, err := mail.Build(m, "bench.localhost", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOutboxWithPDF measures keeping messages with a 30 KB PDF in
// the outbox: appended to the spool, beside one .eml file each in the
// same run (the layout before the spool). It reports both rates and
// their ratio (spool/files).
func BenchmarkOutboxWithPDF(b *testing.B) {
	built, err := mail.Build(sampleMessage(randomBytes(b, 30_000)), "bench.localhost", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	spool := mail.Outbox{Dir: filepath.Join(b.TempDir(), "spool"), Spool: true}
	defer spool.Close()
	files := mail.Outbox{Dir: filepath.Join(b.TempDir(), "files")}
	ctx := context.Background()
	var spooled, filed time.Duration
	i := 0
	for b.Loop() {
		m := *built
		m.MessageID = fmt.Sprintf("<%d@bench.localhost>", i) // each written once
		i++
		start := time.Now()
		if err := spool.Send(ctx, &m); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := files.Send(ctx, &m); err != nil {
			b.Fatal(err)
		}
		spooled, filed = spooled+mid.Sub(start), filed+time.Since(mid)
	}
	spoolRate := float64(b.N) / spooled.Seconds()
	fileRate := float64(b.N) / filed.Seconds()
	b.ReportMetric(spoolRate, "spooled-emails/s")
	b.ReportMetric(fileRate, "eml-files-emails/s")
	b.ReportMetric(spoolRate/fileRate, "ratio")
}
