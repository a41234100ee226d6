//go:build unix

package main

import (
	"syscall"
	"time"
)

// cpuTimes is the CPU time (user + system) used so far by this process
// (the host's engine, the embedded NATS server, the receiver) and by its
// finished child processes (the blocks, once a run has stopped them).
func cpuTimes() (self, children time.Duration) {
	return rusage(syscall.RUSAGE_SELF), rusage(syscall.RUSAGE_CHILDREN)
}

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
