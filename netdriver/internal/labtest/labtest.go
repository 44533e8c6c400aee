// Package labtest builds small network labs out of namespaces for the
// netdriver's tests and benchmarks: node namespaces joined by an underlay
// veth, plain namespaces standing in for containers, a whoami-like HTTP
// server and a client that dials from inside a namespace. Every namespace
// lives under a directory the caller owns, so parallel runs cannot collide.
package labtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minsw/minsw/netdriver/netns"
	"github.com/vishvananda/netlink"
)

// Lab is a set of namespaces under one directory.
type Lab struct {
	Dir   string
	paths []string
}

// New makes a lab whose namespace files live under dir/lab.
func New(dir string) *Lab { return &Lab{Dir: filepath.Join(dir, "lab")} }

// Netns creates a namespace with lo up and returns its path.
func (l *Lab) Netns(name string) (string, error) {
	p, err := netns.Create(l.Dir, name)
	if err != nil {
		return "", err
	}
	l.paths = append(l.paths, p)
	err = inNs(p, func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		return h.LinkSetUp(lo)
	})
	return p, err
}

// Close deletes every namespace of the lab and the directory.
func (l *Lab) Close() error {
	var first error
	for _, p := range l.paths {
		if err := netns.Delete(p); err != nil && first == nil {
			first = err
		}
	}
	l.paths = nil
	if err := netns.Release(l.Dir); err != nil && first == nil {
		first = err
	}
	return first
}

func inNs(path string, fn func(h *netlink.Handle) error) error {
	return netns.WithHandle(path, fn)
}

// Wire joins namespaces a and b with a veth (names ifA in a, ifB in b) and
// gives the ends the addresses addrA and addrB.
func Wire(a, ifA string, addrA netip.Prefix, b, ifB string, addrB netip.Prefix) error {
	bns, err := netns.Open(b)
	if err != nil {
		return err
	}
	defer bns.Close()
	err = inNs(a, func(h *netlink.Handle) error {
		la := netlink.NewLinkAttrs()
		la.Name = ifA
		if err := h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: ifB, PeerNamespace: netlink.NsFd(int(bns))}); err != nil {
			return fmt.Errorf("veth %s: %w", ifA, err)
		}
		return addrUp(h, ifA, addrA)
	})
	if err != nil {
		return err
	}
	return inNs(b, func(h *netlink.Handle) error { return addrUp(h, ifB, addrB) })
}

func addrUp(h *netlink.Handle, name string, p netip.Prefix) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}}
	if err := h.AddrAdd(l, a); err != nil {
		return fmt.Errorf("addr %v on %s: %w", p, name, err)
	}
	return h.LinkSetUp(l)
}

// Whoami serves HTTP inside a namespace on :80 answering like
// containous/whoami: Hostname, IP lines, RemoteAddr, request line.
type Whoami struct {
	Name string
	srv  *http.Server
	ln   net.Listener
}

// StartWhoami listens on 0.0.0.0:80 inside the namespace at path.
func StartWhoami(path, name string) (*Whoami, error) {
	var ln net.Listener
	var ips []string
	err := netns.Do(path, func() error {
		var err error
		ln, err = net.Listen("tcp4", "0.0.0.0:80")
		if err != nil {
			return err
		}
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				ips = append(ips, ipn.IP.String())
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	head := "Hostname: " + name + "\n"
	for _, ip := range ips {
		head += "IP: " + ip + "\n"
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		b.WriteString(head)
		fmt.Fprintf(&b, "RemoteAddr: %s\n%s %s %s\nHost: %s\n", r.RemoteAddr, r.Method, r.URL.RequestURI(), r.Proto, r.Host)
		io.WriteString(w, b.String())
	})
	s := &Whoami{Name: name, ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Whoami) Close() error { return s.srv.Close() }

// Dialer dials TCP from inside the namespace at path.
func Dialer(path string, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := netns.Do(path, func() error {
			var err error
			d := net.Dialer{Timeout: timeout}
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// Client is an HTTP client whose connections start inside a namespace.
func Client(path string, keepAlive bool) *http.Client {
	tr := &http.Transport{
		DialContext:         Dialer(path, 2*time.Second),
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 64,
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// Get fetches url with c and returns the body.
func Get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Field returns the value of the first "key: value" line of a whoami body.
func Field(body, key string) string {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return v
		}
	}
	return ""
}

// TempDir makes a short directory for namespace files (paths stay short
// and readable in `ls`), removed by the returned func.
func TempDir(prefix string) (string, func(), error) {
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}
