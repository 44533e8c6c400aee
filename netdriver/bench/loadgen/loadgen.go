// Package loadgen is the benchmarks' HTTP load generator: it runs inside a
// test network namespace, keeps connections alive or closes each one, and
// reports rates and tail latency. Used by vipbench and meshbench, which
// compare paths in one run.
package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	vnetns "github.com/vishvananda/netns"

	"github.com/minsw/minsw/netdriver/netns"
)

// Result is one load run: requests that got a 200, requests that failed,
// the wall time, the 99th percentile latency and the first error seen.
type Result struct {
	OK, Failed int
	Elapsed    time.Duration
	P99        time.Duration
	FirstErr   error
}

// RPS is the rate of successful requests.
func (r Result) RPS() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// MedianRPS is the median rate over several rounds.
func MedianRPS(rs []Result) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = r.RPS()
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// MedianP99 is the median 99th percentile over several rounds.
func MedianP99(rs []Result) time.Duration {
	v := make([]time.Duration, len(rs))
	for i, r := range rs {
		v[i] = r.P99
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// Failures counts failed requests over several rounds.
func Failures(rs []Result) (n int) {
	for _, r := range rs {
		n += r.Failed
	}
	return n
}

// Run sends HTTP GETs from the network namespace at from, spread over addrs
// (host:port), with c connections, until count requests are done or d has
// passed, whichever comes first: every load loop is bounded in both.
func Run(from string, addrs []string, keepAlive bool, c, count int, d time.Duration) Result {
	ns, err := netns.Open(from)
	if err != nil {
		return Result{FirstErr: err}
	}
	defer ns.Close()
	var (
		mu       sync.Mutex
		total    Result
		lats     []time.Duration
		wg       sync.WaitGroup
		budget   = make(chan struct{}, count)
		deadline = time.Now().Add(d)
	)
	for range count {
		budget <- struct{}{}
	}
	close(budget)
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: the thread ends with us
			if err := vnetns.Set(ns); err != nil {
				mu.Lock()
				total.Failed++
				total.FirstErr = err
				mu.Unlock()
				return
			}
			var (
				conn    net.Conn
				br      *bufio.Reader
				my      = make([]time.Duration, 0, 4096)
				ok, bad int
				ferr    error
			)
			for range budget {
				if time.Now().After(deadline) {
					break
				}
				t0 := time.Now()
				if conn == nil {
					var err error
					conn, err = net.DialTimeout("tcp4", addrs[(ok+bad+w)%len(addrs)], 2*time.Second)
					if err != nil {
						bad++
						ferr = err
						conn = nil
						continue
					}
					br = bufio.NewReaderSize(conn, 4096)
				}
				err := get(conn, br, keepAlive)
				if err != nil || !keepAlive {
					conn.Close()
					conn = nil
				}
				if err != nil {
					bad++
					ferr = err
					continue
				}
				ok++
				my = append(my, time.Since(t0))
			}
			if conn != nil {
				conn.Close()
			}
			mu.Lock()
			total.OK += ok
			total.Failed += bad
			if total.FirstErr == nil {
				total.FirstErr = ferr
			}
			lats = append(lats, my...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.Elapsed = time.Since(start)
	if len(lats) > 0 {
		slices.Sort(lats)
		total.P99 = lats[len(lats)*99/100]
	}
	return total
}

var (
	reqKA    = []byte("GET / HTTP/1.1\r\nHost: web\r\nUser-Agent: minsw-bench\r\n\r\n")
	reqClose = []byte("GET / HTTP/1.1\r\nHost: web\r\nUser-Agent: minsw-bench\r\nConnection: close\r\n\r\n")
)

func get(c net.Conn, br *bufio.Reader, keepAlive bool) error {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	req := reqClose
	if keepAlive {
		req = reqKA
	}
	if _, err := c.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}
