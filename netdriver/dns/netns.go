package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/netdriver/netns"
)

// listenIn opens the UDP and TCP sockets at addr inside the network
// namespace at netnsPath. A socket belongs to the namespace it was created
// in, so the sockets are made on an OS thread that entered that namespace;
// the goroutines serving them later run anywhere.
func listenIn(ctx context.Context, netnsPath string, addr netip.AddrPort) (*net.UDPConn, *net.TCPListener, error) {
	type result struct {
		udp *net.UDPConn
		tcp *net.TCPListener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: once the thread has switched namespace, Go must
		// retire it when this goroutine ends instead of running other
		// goroutines in the container's namespace.
		runtime.LockOSThread()
		var r result
		r.udp, r.tcp, r.err = listenHere(netnsPath, addr)
		ch <- r
	}()
	select {
	case r := <-ch:
		return r.udp, r.tcp, r.err
	case <-ctx.Done():
		go func() { // close whatever the thread still makes
			if r := <-ch; r.err == nil {
				r.udp.Close()
				r.tcp.Close()
			}
		}()
		return nil, nil, ctx.Err()
	}
}

func listenHere(netnsPath string, addr netip.AddrPort) (*net.UDPConn, *net.TCPListener, error) {
	fd, err := unix.Open(netnsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open netns %s: %w", netnsPath, err)
	}
	err = unix.Setns(fd, unix.CLONE_NEWNET)
	unix.Close(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("enter netns %s: %w", netnsPath, err)
	}
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, nil, hintLo(fmt.Errorf("listen udp %v in %s: %w", addr, netnsPath, err))
	}
	tcp, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
	if err != nil {
		udp.Close()
		return nil, nil, hintLo(fmt.Errorf("listen tcp %v in %s: %w", addr, netnsPath, err))
	}
	return udp, tcp, nil
}

func hintLo(err error) error {
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("%w (is lo up in the namespace?)", err)
	}
	return err
}

// dialFrom connects to addr from inside the network namespace at netnsPath,
// or from the daemon's own namespace when netnsPath is empty. The socket
// stays in the namespace it was made in; only the dial needs the thread.
func dialFrom(ctx context.Context, netnsPath, network string, addr netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	if netnsPath == "" {
		return d.DialContext(ctx, network, addr.String())
	}
	var c net.Conn
	err := netns.Do(netnsPath, func() error {
		var err error
		c, err = d.DialContext(ctx, network, addr.String())
		return err
	})
	if err != nil {
		if c != nil { // dialled, but the thread could not be put back
			c.Close()
		}
		return nil, fmt.Errorf("from %s: %w", netnsPath, err)
	}
	return c, nil
}
