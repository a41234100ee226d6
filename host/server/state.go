package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
)

// State tells other paperflow commands on the same data directory how to
// reach a running host, so `paperflow run` hands its run over instead of
// running it itself.
type State struct {
	NATSURL string `json:"nats_url"`
	HTTP    string `json:"http"`
	PID     int    `json:"pid"`
}

// StatePath is where a host keeps its State in a data directory.
func StatePath(dataDir string) string { return filepath.Join(dataDir, "serve.json") }

// ReadState returns the State at path when the host that wrote it is
// still alive.
func ReadState(path string) (State, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return State{}, false
	}
	var st State
	if json.Unmarshal(raw, &st) != nil || st.NATSURL == "" {
		return State{}, false
	}
	if p, err := os.FindProcess(st.PID); err != nil || p.Signal(syscall.Signal(0)) != nil {
		return State{}, false
	}
	return st, true
}
