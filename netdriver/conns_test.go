package netdriver_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/minsw/minsw/internal/eventually"
	"github.com/minsw/minsw/netdriver"
	"github.com/minsw/minsw/netdriver/internal/labtest"
	"github.com/minsw/minsw/netdriver/lb"
)

// lb inspect's ActiveConn and InActConn, as ipvsadm shows them, with the
// nftables backend: one connection left open to the VIP counts as active
// on the backend it reached, two finished ones as inactive.
func TestLBInspectCountsConnections(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	l.n1.do(t, func() error { return l.n1.d.EnsureNetwork(ctx, mynet1) })
	l.container(t, l.n1, mynetID, "6039865a1e5d0000aaaa", "10.0.1.31", true)
	l.container(t, l.n1, mynetID, "c3b3e99b9bb10000bbbb", "10.0.1.32", true)
	client := l.container(t, l.n1, mynetID, "36dce35d56e80000cccc", "10.0.1.36", false)
	web := lb.Service{VIP: addr("10.0.1.30"), Mark: 0x106, Backends: addrs("10.0.1.31", "10.0.1.32")}
	l.n1.do(t, func() error { return l.n1.d.SetServices(ctx, mynetID, []lb.Service{web}) })

	open, err := labtest.Dialer(client, 5*time.Second)(ctx, "tcp4", "10.0.1.30:80")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	fmt.Fprint(open, "GET / HTTP/1.1\r\nHost: web\r\n\r\n")
	open.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(open), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	curl(t, client, "http://10.0.1.30/", 2)

	// A finished connection may be a moment in FIN_WAIT or TIME_WAIT.
	var infos []netdriver.NetworkInfo
	eventually.True(t, "one active and two inactive connections over the two backends", func() bool {
		var err error
		if infos, err = l.n1.d.Inspect(ctx); err != nil {
			t.Fatal(err)
		}
		var active, inactive uint32
		for _, c := range infos[0].Conns {
			active += c.Active
			inactive += c.Inactive
		}
		return len(infos[0].Conns) == 2 && active == 1 && inactive == 2
	})
	t.Logf("conns: %+v", infos[0].Conns)
}
