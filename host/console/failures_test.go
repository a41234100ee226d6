package console

import (
	"fmt"
	"testing"
	"time"
)

// TestFailedLoginsAreForgotten: the failures of addresses that are not
// seen again are dropped once their window has passed, and no more than
// maxLoginKeys addresses are kept however many fail within one window;
// the limits still hold meanwhile.
func TestFailedLoginsAreForgotten(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	f := &failures{now: clk.Now}
	for i := range 500 {
		f.add(fmt.Sprintf("203.0.113.%d", i), "10.0.0.1")
	}
	if !f.tooMany("198.51.100.7", "10.0.0.1") {
		t.Fatal("500 failures from one connection address in a window: not too many")
	}
	if f.tooMany("198.51.100.7", "10.0.0.2") {
		t.Fatal("a client of another connection address is made to wait")
	}
	clk.Add(loginWindow)
	f.add("198.51.100.7", "10.0.0.2") // neither key seen before
	if n := len(f.byAddr); n != 2 {
		t.Fatalf("%d addresses kept a window after the others' last failure, want the 2 of the new one", n)
	}
	if f.tooMany("203.0.113.1", "10.0.0.1") {
		t.Fatal("a window after its failures, the connection still waits")
	}

	for i := range 3 * maxLoginKeys {
		f.add(fmt.Sprintf("2001:db8:%x::", i), fmt.Sprintf("2001:db8:%x::1", i))
	}
	if n := len(f.byAddr); n > maxLoginKeys {
		t.Fatalf("%d addresses kept, more than %d", n, maxLoginKeys)
	}
	for range maxFailedLogins {
		f.add("192.0.2.9", "192.0.2.9")
	}
	if !f.tooMany("192.0.2.9", "192.0.2.9") {
		t.Fatal("a client's failures were forgotten while it kept failing")
	}
}
