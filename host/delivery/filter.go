package delivery

import (
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// consumerFilter is how a consumer selects the subjects it takes.
type consumerFilter struct {
	// server are the filter subjects the server applies: the subjects
	// wanted, or one subject that covers them all.
	server []string
	// host, when not nil, are the subjects wanted: the server's filter
	// takes more than them, and the host drops the rest.
	host []string
}

// filterFor decides, for every consumer delivery creates, how it takes
// subjects on the server nc is connected to. NATS 2.10 added consumers with
// several filter subjects; an older server (Debian's nats-server is 2.9.10)
// takes one only, so the consumer gets one subject covering them all and
// the host checks each message against the subjects wanted. A server whose
// version cannot be read is treated as old: one filter subject works on
// every server.
func filterFor(nc *nats.Conn, subjects []string) consumerFilter {
	if len(subjects) <= 1 || (nc != nil && multiFilterServer(nc.ConnectedServerVersion())) {
		return consumerFilter{server: subjects}
	}
	return consumerFilter{server: []string{coveringSubject(subjects)}, host: subjects}
}

// takes reports whether a message on subject is wanted.
func (f consumerFilter) takes(subject string) bool {
	if f.host == nil {
		return true
	}
	for _, s := range f.host {
		if subjectMatches(s, subject) {
			return true
		}
	}
	return false
}

// multiFilterServer reports whether a server of this version ("2.10.4",
// "v2.11.0-RC.1") takes several filter subjects per consumer.
func multiFilterServer(version string) bool {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 2 || (major == 2 && minor >= 10)
}

// coveringSubject is one NATS subject that matches every subject in subs:
// the tokens they share, "*" where they differ, ">" from where their
// lengths part.
func coveringSubject(subs []string) string {
	cover := strings.Split(subs[0], ".")
	for _, s := range subs[1:] {
		toks := strings.Split(s, ".")
		n := min(len(cover), len(toks))
		next := make([]string, 0, n)
		for i := range n {
			c := cover[i]
			if c == ">" || toks[i] == ">" {
				next = append(next, ">")
				break
			}
			if c != toks[i] {
				c = "*"
			}
			next = append(next, c)
		}
		if len(cover) != len(toks) {
			next[len(next)-1] = ">"
		}
		cover = next
	}
	return strings.Join(cover, ".")
}
