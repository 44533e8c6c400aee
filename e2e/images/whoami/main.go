// Command whoami is the lab's stand-in for the containous/whoami image: an
// HTTP server on port 80 that answers every request with who served it
// (hostname and every interface address) and what it received (the peer's
// address, the request line and the headers), so a reader can see which
// task answered and through which load balancer address the client came.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("port", "80", "TCP port to listen on")
	flag.Parse()
	http.HandleFunc("/", handle)
	srv := &http.Server{Addr: ":" + *addr, ReadHeaderTimeout: 10 * time.Second}
	// On the stop signal, stop as a well-behaved server does: no new
	// connection, idle keep-alive ones closed, requests in flight answered.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		log.Printf("whoami: stop signal, shutting down")
		srv.Shutdown(sctx)
	}()
	log.Printf("whoami listening on %s", srv.Addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-done
}

func handle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, Describe(r))
}

// Describe is the body of an answer: Hostname, one IP line per interface
// address (loopback first, as the kernel lists interfaces), RemoteAddr, then
// the request line and its headers in the order curl sent them where known.
func Describe(r *http.Request) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "Hostname: %s\n", host)
	for _, ip := range addrs() {
		fmt.Fprintf(&b, "IP: %s\n", ip)
	}
	fmt.Fprintf(&b, "RemoteAddr: %s\n", r.RemoteAddr)
	fmt.Fprintf(&b, "%s %s %s\n", r.Method, r.URL.RequestURI(), r.Proto)
	fmt.Fprintf(&b, "Host: %s\n", r.Host)
	for _, k := range headerOrder(r.Header) {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	return b.String()
}

// addrs lists every address of every interface, interfaces in index order
// (lo is 1), without the prefix length.
func addrs() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	sort.Slice(ifs, func(i, j int) bool { return ifs[i].Index < ifs[j].Index })
	var out []string
	for _, ifc := range ifs {
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range as {
			if n, ok := a.(*net.IPNet); ok {
				out = append(out, n.IP.String())
			}
		}
	}
	return out
}

// headerOrder puts the headers curl sends first in curl's order, then the
// rest sorted, since Go's header map keeps no order.
func headerOrder(h http.Header) []string {
	first := []string{"User-Agent", "Accept"}
	var out []string
	seen := map[string]bool{}
	for _, k := range first {
		if _, ok := h[k]; ok {
			out = append(out, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range h {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}
