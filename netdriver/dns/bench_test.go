package dns

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// benchNetnsEnv makes the test binary a DNS server for BenchmarkUDPOneCore:
// the benchmark runs it as a child process pinned to one CPU with
// GOMAXPROCS=1, so the figure is what one core of server sustains, while the
// load generator runs on another CPU.
const benchNetnsEnv = "MINSW_DNS_BENCH_NETNS"

func TestMain(m *testing.M) {
	if ns := os.Getenv(benchNetnsEnv); ns != "" {
		os.Exit(benchServer(ns))
	}
	os.Exit(m.Run())
}

func benchServer(ns string) int {
	cfg := DefaultConfig(seedTable())
	cfg.Upstreams = []netip.AddrPort{}
	s, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := s.Attach(context.Background(), ns, "bench", Scope{Networks: []string{netA}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // the parent closes stdin when done
	s.Close()
	st := s.Stats()
	fmt.Printf("stats queries=%d answered=%d dropped=%d\n", st.Queries, st.Answered, st.Dropped)
	return 0
}

// BenchmarkUDPOneCore measures queries/s answered over UDP inside a network
// namespace by a server limited to one core. Bounded by b.N queries (use
// -benchtime=500000x) and by a 60 s wall clock.
func BenchmarkUDPOneCore(b *testing.B) {
	ns := newNetns(b)
	args := []string{os.Args[0], "-test.run=^$"}
	ncpu := runtime.NumCPU()
	pinned := false
	if tp, err := exec.LookPath("taskset"); err == nil && ncpu >= 2 {
		args = append([]string{tp, "-c", "0"}, args...)
		pinned = true
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), benchNetnsEnv+"="+ns, "GOMAXPROCS=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatalf("bench server did not start: %q", lines.Text())
	}
	defer func() {
		stdin.Close()
		for lines.Scan() {
			b.Log(lines.Text())
		}
		cmd.Wait()
	}()
	if pinned {
		restore := pinSelf(b, 1)
		defer restore()
	}

	q, _ := new(mdns.Msg).SetQuestion("web.", mdns.TypeA).Pack()
	const (
		clients = 4
		window  = 32
	)
	var sent, got, lost atomic.Int64
	quota := int64(b.N)
	deadline := time.Now().Add(60 * time.Second)
	conns := make([]io.ReadWriter, clients)
	for i := range conns {
		conns[i] = dialIn(b, ns, "udp", "127.0.0.11:53")
	}
	cpu0 := procCPU(b, cmd.Process.Pid)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func(c io.ReadWriter) {
			defer wg.Done()
			c.(interface{ SetReadDeadline(time.Time) error }).SetReadDeadline(deadline)
			msg := append([]byte(nil), q...)
			buf := make([]byte, 512)
			send := func() bool {
				if sent.Add(1) > quota {
					return false
				}
				binary.BigEndian.PutUint16(msg, uint16(sent.Load()))
				c.Write(msg)
				return true
			}
			inflight := 0
			for range window {
				if send() {
					inflight++
				}
			}
			for inflight > 0 {
				rc := c.(interface{ SetReadDeadline(time.Time) error })
				rc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				if _, err := c.Read(buf); err != nil {
					// Lost in a full socket buffer: give up on the window.
					lost.Add(int64(inflight))
					if time.Now().After(deadline) {
						return
					}
					inflight = 0
					for range window {
						if send() {
							inflight++
						}
					}
					continue
				}
				got.Add(1)
				inflight--
				if send() {
					inflight++
				}
			}
		}(conns[i])
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := procCPU(b, cmd.Process.Pid) - cpu0
	qps := float64(got.Load()) / elapsed.Seconds()
	b.ReportMetric(qps, "queries/s")
	b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "server-cpu-%")
	if cpu > 0 {
		b.ReportMetric(float64(got.Load())/cpu.Seconds(), "queries/cpu-s")
	}
	b.ReportMetric(float64(lost.Load()), "lost")
	if b.N >= 100000 {
		b.Logf("answered %d of %d in %v: %.0f queries/s, server CPU %v (pinned to one core: %v)",
			got.Load(), b.N, elapsed.Round(time.Millisecond), qps, cpu, pinned)
	}
}

// pinSelf moves every thread of this process to cpu and returns a function
// that gives them all CPUs back.
func pinSelf(b *testing.B, cpu int) func() {
	var one, all unix.CPUSet
	one.Set(cpu)
	for i := range runtime.NumCPU() {
		all.Set(i)
	}
	set := func(s *unix.CPUSet) {
		tids, _ := filepath.Glob("/proc/self/task/*")
		for _, p := range tids {
			if tid, err := strconv.Atoi(filepath.Base(p)); err == nil {
				unix.SchedSetaffinity(tid, s)
			}
		}
	}
	set(&one)
	return func() { set(&all) }
}

// procCPU reads the user+system CPU time of process pid.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the parenthesised command: state is field 3; utime and
	// stime are fields 14 and 15.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}
