//go:build ipvsvm

package ipvs

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/minsw/minsw/netdriver/lb"
)

// TestConnsAreIpvsadmsCounters: four requests that closed and one left
// open; Conns reports what IPVS counts (ipvsadm's ActiveConn, InActConn).
func TestConnsAreIpvsadmsCounters(t *testing.T) {
	l := newLab(t)
	b, err := New(l.lb, lbEndpoint)
	must(t, err)
	defer b.Close()
	must(t, b.Apply(seedServices(), nil))
	for range 4 {
		l.get(t, "http://10.0.1.30/")
	}
	var c net.Conn
	must(t, inNS(l.client, func() error {
		var err error
		c, err = net.DialTimeout("tcp4", "10.0.1.30:80", 5*time.Second)
		return err
	}))
	defer c.Close()
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: web\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	must(t, err)
	resp.Body.Close()

	// Round robin sends the open connection to web.1 or web.2, whichever
	// is next; the four finished ones went two to each.
	want := func(openOn netip.Addr) []lb.Conns {
		out := []lb.Conns{{Mark: 0x106, Backend: web1, Inactive: 2}, {Mark: 0x106, Backend: web2, Inactive: 2}, {Mark: 0x107, Backend: clientIP}}
		for i := range out {
			if out[i].Backend == openOn {
				out[i].Active = 1
			}
		}
		return out
	}
	// A finished connection may be a moment in FIN_WAIT before TIME_WAIT.
	var got []lb.Conns
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err = b.Conns()
		must(t, err)
		if reflect.DeepEqual(got, want(web1)) || reflect.DeepEqual(got, want(web2)) {
			break
		}
		if time.Now().After(deadline) {
			ipvsadm(t, l.lb)
			t.Fatalf("Conns() = %+v\nwant %+v (or the active one on web.2)", got, want(web1))
		}
	}
	ipvsadm(t, l.lb)
}
