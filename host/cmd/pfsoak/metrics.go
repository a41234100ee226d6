package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// metricsClient reads the host's Prometheus endpoint for what /proc cannot
// show (goroutines) and for the host's own view of its RSS. Hosts without
// /metrics answer 404; the client then stops asking and the report says so.
type metricsClient struct {
	url, token string
	client     *http.Client

	mu     sync.Mutex
	absent bool
	note   string // why the last fetch gave nothing
}

// The metrics pfsoak reports.
const (
	metricGoroutines = "go_goroutines"
	metricRSS        = "process_resident_memory_bytes"
	// metricHeapGoal is the heap size at which the host's next GC starts:
	// with GOGC=100 twice the heap that was live after the last one, so
	// unlike RSS it follows what the host keeps, not when it collected.
	metricHeapGoal = "go_memstats_next_gc_bytes"
)

func newMetricsClient(httpAddr, token string) *metricsClient {
	return &metricsClient{url: "http://" + httpAddr + "/metrics", token: token, client: &http.Client{Timeout: 2 * time.Second}}
}

// fetch returns the metrics, or nil when there are none to be had.
func (m *metricsClient) fetch() map[string]float64 {
	m.mu.Lock()
	absent := m.absent
	m.mu.Unlock()
	if absent {
		return nil
	}
	vals, err := m.get()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.note = err.Error()
		return nil
	}
	m.note = ""
	return vals
}

func (m *metricsClient) get() (map[string]float64, error) {
	req, err := http.NewRequest(http.MethodGet, m.url, nil)
	if err != nil {
		return nil, err
	}
	// The endpoint may sit behind the API token like /api/; the token is
	// the one pfsoak gave serve.
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		m.mu.Lock()
		m.absent = true
		m.mu.Unlock()
		return nil, fmt.Errorf("GET /metrics: 404: this host has no metrics endpoint")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body, metricGoroutines, metricRSS, metricHeapGoal)
}

// status says whether metrics were read, for the report.
func (m *metricsClient) status() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.note
}

// parseMetrics reads the named unlabelled samples from the Prometheus text
// format: "name value [timestamp]" lines, # lines being comments.
func parseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || !want[f[0]] {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %s: %v", f[0], err)
		}
		out[f[0]] = v
	}
	return out, sc.Err()
}
