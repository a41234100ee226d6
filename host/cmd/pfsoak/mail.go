package main

import (
	"bytes"
	"fmt"
	"net/mail"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	hostmail "github.com/paperflow/paperflow/host/mail"
	"github.com/paperflow/paperflow/host/mail/smtptest"
)

// mailCounter counts the messages the host sends, by Message-ID and by the
// item key in the subject: a message sent twice after a retry repeats its
// Message-ID, while an item emailed twice (a redelivered item that escaped
// the email block's idempotency key) gets a new Message-ID but repeats the
// key.
//
// With -mail outbox the host keeps its mail in its outbox instead, and the
// counter reads what the outbox holds, at most once a second (so an
// email's arrival is known up to a second late).
type mailCounter struct {
	addr, url string

	outbox  *hostmail.Outbox
	pollMu  sync.Mutex
	polled  time.Time
	counted map[string]bool // outbox entries counted, by location

	mu         sync.Mutex
	byID       map[string]int
	byKey      map[string]int
	dupIDs     int
	dupKeys    int
	unreadable int
	last       time.Time // when the last new Message-ID arrived
}

// mailSnapshot is what the counter saw up to now.
type mailSnapshot struct {
	Unique, DupIDs, DupKeys, Unreadable int
	Last                                time.Time
}

// subjectPrefix starts the subject of every message; the item key follows.
const subjectPrefix = "pfsoak "

// startMailCounter runs an SMTP server without TLS on 127.0.0.1 that keeps
// no message data, only the counts.
func startMailCounter() (*mailCounter, func(), error) {
	c := &mailCounter{byID: map[string]int{}, byKey: map[string]int{}}
	srv, closeSrv, err := startSMTP(smtptest.Options{Security: smtptest.Plain, Discard: true, OnData: c.onData})
	if err != nil {
		return nil, nil, err
	}
	c.addr, c.url = srv.Addr, srv.URL("")
	return c, closeSrv, nil
}

// startOutboxCounter counts the messages in the host's outbox in dir.
func startOutboxCounter(dir string) *mailCounter {
	return &mailCounter{addr: "outbox " + dir, byID: map[string]int{}, byKey: map[string]int{},
		outbox: &hostmail.Outbox{Dir: dir}, counted: map[string]bool{}}
}

// onData sees each message before the server accepts it.
func (c *mailCounter) onData(_ int, m smtptest.Message) error {
	c.count(m.Data)
	return nil
}

// pollOutbox counts the outbox's messages not counted yet, at most once
// a second.
func (c *mailCounter) pollOutbox() {
	if c.outbox == nil {
		return
	}
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	if time.Since(c.polled) < time.Second {
		return
	}
	c.polled = time.Now()
	entries, err := c.outbox.Messages()
	if err != nil {
		return // not there yet; the next poll tries again
	}
	for _, e := range entries {
		if c.counted[e.Location()] {
			continue
		}
		raw, err := c.outbox.Read(e)
		if err != nil {
			continue
		}
		c.counted[e.Location()] = true
		c.count(raw)
	}
}

// count adds one message.
func (c *mailCounter) count(raw []byte) {
	id, key := "", ""
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		id = msg.Header.Get("Message-ID")
		key, _ = strings.CutPrefix(msg.Header.Get("Subject"), subjectPrefix)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == "" || key == "" {
		c.unreadable++
		return
	}
	c.byID[id]++
	if c.byID[id] > 1 {
		c.dupIDs++
	} else {
		c.last = time.Now()
	}
	c.byKey[key]++
	if c.byKey[key] > 1 {
		c.dupKeys++
	}
}

func (c *mailCounter) snapshot() mailSnapshot {
	c.pollOutbox()
	c.mu.Lock()
	defer c.mu.Unlock()
	return mailSnapshot{Unique: len(c.byID), DupIDs: c.dupIDs, DupKeys: c.dupKeys, Unreadable: c.unreadable, Last: c.last}
}

// received reports whether a message with this Message-ID arrived.
func (c *mailCounter) received(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id] > 0
}

// startSMTP runs smtptest outside a test. smtptest reports through
// testing.TB; harness provides the three methods it calls, and Start runs
// on its own goroutine so that a Fatalf can end it the way t.FailNow ends a
// test.
func startSMTP(o smtptest.Options) (*smtptest.Server, func(), error) {
	h := &harness{}
	done := make(chan *smtptest.Server, 1)
	go func() {
		var srv *smtptest.Server
		defer func() { done <- srv }()
		srv = smtptest.Start(h, o)
	}()
	srv := <-done
	if srv == nil {
		h.cleanup()
		return nil, nil, fmt.Errorf("SMTP server: %s", h.failure)
	}
	return srv, h.cleanup, nil
}

// harness is the part of testing.TB that smtptest.Start uses. The embedded
// interface is nil: a method smtptest does not use would panic, which a
// new use in smtptest would show at once.
type harness struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	failure  string
}

func (h *harness) Helper() {}

func (h *harness) Cleanup(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cleanups = append(h.cleanups, f)
}

func (h *harness) Fatalf(format string, args ...any) {
	h.mu.Lock()
	h.failure = fmt.Sprintf(format, args...)
	h.mu.Unlock()
	runtime.Goexit()
}

// cleanup runs the registered cleanups, last first, as testing does.
func (h *harness) cleanup() {
	h.mu.Lock()
	fs := h.cleanups
	h.cleanups = nil
	h.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
