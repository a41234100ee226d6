package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/paperflow/paperflow/plugins/webhook/verify"
)

// hookCounter receives the webhook sink's deliveries, verifies their
// signatures as a real receiver would, and counts them by webhook-id (the
// event id), duplicates apart: delivery is at least once, so a duplicate
// is allowed by the contract but is still something a soak should see.
type hookCounter struct {
	url    string
	secret string
	v      verify.Verifier

	mu        sync.Mutex
	byID      map[string]int
	byType    map[string]int // unique events per type
	dups      int
	refused   int
	lastError string
	last      time.Time // when the last new event arrived
	// announced are the Message-IDs that EMAILS_CREATED events carried,
	// to check against what the SMTP server received.
	announced []string
}

// hookSnapshot is what the receiver saw up to now.
type hookSnapshot struct {
	Unique, Dups, Refused int
	ByType                map[string]int
	LastError             string
	Last                  time.Time
}

// envelope is the part of an event the receiver checks.
type envelope struct {
	EventID   string `json:"eventId"`
	EventType string `json:"eventType"`
	Data      struct {
		Emails []struct {
			MessageID string `json:"message_id"`
		} `json:"emails"`
	} `json:"data"`
}

// startHookCounter serves the receiver on 127.0.0.1 with a fresh secret.
func startHookCounter() (*hookCounter, func(), error) {
	secret := verify.GenerateSecret()
	c := &hookCounter{secret: secret, v: verify.Verifier{Secrets: []string{secret}}, byID: map[string]int{}, byType: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	c.url = "http://" + ln.Addr().String() + "/hook"
	mux := http.NewServeMux()
	mux.Handle("POST /hook", c)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return c, func() { _ = srv.Close() }, nil
}

func (c *hookCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := c.v.Request(r)
	var env envelope
	if err == nil {
		err = json.Unmarshal(body, &env)
	}
	if err == nil && (env.EventID == "" || env.EventID != r.Header.Get(verify.IDHeader)) {
		err = errors.New("webhook-id is not the envelope's eventId")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.refused++
		c.lastError = err.Error()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	c.byID[env.EventID]++
	if c.byID[env.EventID] > 1 {
		c.dups++
	} else {
		c.last = time.Now()
		c.byType[env.EventType]++
		for _, m := range env.Data.Emails {
			c.announced = append(c.announced, m.MessageID)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *hookCounter) snapshot() hookSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	byType := make(map[string]int, len(c.byType))
	for k, v := range c.byType {
		byType[k] = v
	}
	return hookSnapshot{Unique: len(c.byID), Dups: c.dups, Refused: c.refused, ByType: byType, LastError: c.lastError, Last: c.last}
}

// unreceived counts the Message-IDs announced in EMAILS_CREATED events
// that the SMTP server never saw.
func (c *hookCounter) unreceived(m *mailCounter) int {
	c.mu.Lock()
	ids := append([]string(nil), c.announced...)
	c.mu.Unlock()
	n := 0
	for _, id := range ids {
		if !m.received(id) {
			n++
		}
	}
	return n
}
