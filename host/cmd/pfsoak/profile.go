package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// pprofEnv is the environment variable that makes serve serve Go's
// profiles on a loopback address (its hidden --pprof-listen).
const pprofEnv = "PAPERFLOW_PPROF_LISTEN"

// profiler saves heap profiles of the host at 25/50/75/95/100% of the emails
// of a load run and once it has drained, into dir, so that
// `go tool pprof -base heap-25.pb.gz heap-100.pb.gz` shows what grew.
// Each fetch asks for a GC first (gc=1): the profile then shows the heap
// that is live, not what the last cycle left.
type profiler struct {
	url    string // http://127.0.0.1:PORT/debug/pprof/
	dir    string
	want   int // emails of the whole run; 0 before a load run says
	client *http.Client

	mu   sync.Mutex
	next int // index into profilePoints of the next point to save
	wg   sync.WaitGroup
	errs []error
}

// profilePoints are the shares of the emails at which a load run saves a
// heap profile.
var profilePoints = []int{25, 50, 75, 95, 100}

// newProfiler picks a free loopback port for serve's profiles; env is what
// serve then needs in its environment.
func newProfiler(dir string) (p *profiler, env string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	p = &profiler{url: "http://" + addr + "/debug/pprof/", dir: dir, client: &http.Client{Timeout: 2 * time.Minute}}
	return p, pprofEnv + "=" + addr, nil
}

// expect sets the emails of the load run the points are shares of.
func (p *profiler) expect(emails int) {
	p.mu.Lock()
	p.want = emails
	p.mu.Unlock()
}

// observe saves the profiles of the points the emails have reached, in
// the background: the sampler does not wait for a GC of the host.
func (p *profiler) observe(emails int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.want == 0 {
		return
	}
	for p.next < len(profilePoints) && emails >= (p.want*profilePoints[p.next]+99)/100 {
		name := fmt.Sprintf("heap-%d", profilePoints[p.next])
		p.next++
		p.wg.Go(func() { p.save(name, "heap?gc=1") })
	}
}

// final saves the heap and goroutines of the drained host and waits for
// every profile being saved; it returns what could not be saved.
func (p *profiler) final() []error {
	p.wg.Go(func() { p.save("heap-end", "heap?gc=1") })
	p.wg.Go(func() { p.save("goroutines-end", "goroutine") })
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errs
}

func (p *profiler) save(name, query string) {
	err := p.fetch(filepath.Join(p.dir, name+".pb.gz"), p.url+query)
	if err != nil {
		p.mu.Lock()
		p.errs = append(p.errs, fmt.Errorf("%s: %w", name, err))
		p.mu.Unlock()
	}
}

func (p *profiler) fetch(path, url string) error {
	resp, err := p.client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return f.Close()
}
