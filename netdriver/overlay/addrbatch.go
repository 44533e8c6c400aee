package overlay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/minsw/minsw/netdriver/netns"
	"golang.org/x/sys/unix"
)

// addrsPerSend bounds one sendmsg of address changes, so that their acks
// (about 1 KiB of receive buffer each) fit in ackBuf.
const (
	addrsPerSend = 500
	ackBuf       = 4 << 20
)

// batchAddrs deletes del and adds add (IPv4) on link ifindex of the
// namespace at nsPath, many per netlink write instead of one round trip
// each: 10,000 VIPs take tens of milliseconds instead of seconds.
func batchAddrs(nsPath string, ifindex int, add, del []netip.Prefix) error {
	ns, err := netns.Open(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: int(ns)})
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer c.Close()
	if err := forceRcvBuf(c, ackBuf); err != nil {
		return fmt.Errorf("netlink receive buffer: %w", err)
	}
	// Never wait forever for an ack the kernel could not queue.
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	send := func(typ netlink.HeaderType, flags netlink.HeaderFlags, ps []netip.Prefix) error {
		for len(ps) > 0 {
			n := min(len(ps), addrsPerSend)
			msgs := make([]netlink.Message, n)
			for i, p := range ps[:n] {
				msgs[i] = netlink.Message{
					Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Acknowledge | flags},
					Data:   addrMsg(ifindex, p),
				}
			}
			if _, err := c.SendMessages(msgs); err != nil {
				return err
			}
			var errs []error
			for got := 0; got < n; {
				replies, err := c.Receive()
				if err != nil && (errors.Is(err, unix.ENOBUFS) || errors.Is(err, os.ErrDeadlineExceeded)) {
					return fmt.Errorf("acks lost: %w", err)
				}
				if err != nil {
					// An error ack: the rest of the batch was still applied
					// and acked, so keep reading them.
					got++
					if !(typ == unix.RTM_DELADDR && errors.Is(err, unix.EADDRNOTAVAIL)) {
						errs = append(errs, err)
					}
					continue
				}
				got += len(replies)
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			ps = ps[n:]
		}
		return nil
	}
	if err := send(unix.RTM_DELADDR, 0, del); err != nil {
		return fmt.Errorf("delete addresses: %w", err)
	}
	if err := send(unix.RTM_NEWADDR, netlink.Create|netlink.Replace, add); err != nil {
		return fmt.Errorf("add addresses: %w", err)
	}
	return nil
}

func forceRcvBuf(c *netlink.Conn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		return err
	}
	return serr
}

// addrMsg is an ifaddrmsg with IFA_LOCAL and IFA_ADDRESS.
func addrMsg(ifindex int, p netip.Prefix) []byte {
	b := make([]byte, 8, 8+16)
	b[0] = unix.AF_INET
	b[1] = byte(p.Bits())
	binary.NativeEndian.PutUint32(b[4:], uint32(ifindex))
	a := p.Addr().As4()
	for _, typ := range []uint16{unix.IFA_LOCAL, unix.IFA_ADDRESS} {
		var h [4]byte
		binary.NativeEndian.PutUint16(h[0:], 8)
		binary.NativeEndian.PutUint16(h[2:], typ)
		b = append(b, h[:]...)
		b = append(b, a[:]...)
	}
	return b
}
