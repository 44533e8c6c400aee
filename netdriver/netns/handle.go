package netns

import (
	"fmt"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// WithHandle runs fn with a netlink handle whose sockets live in the
// namespace at path ("" is the caller's own), and closes it afterwards.
// It is the one way minsw speaks netlink: every netlink call is made
// inside netdriver/ through WithHandle or WithNsHandle, so no socket is
// opened in the wrong namespace or left open. families limits the handle
// to those netlink families (unix.NETLINK_NETFILTER for conntrack); none
// means every family.
func WithHandle(path string, fn func(h *netlink.Handle) error, families ...int) error {
	if path == "" {
		return WithNsHandle(vnetns.None(), fn, families...)
	}
	ns, err := Open(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	return WithNsHandle(ns, fn, families...)
}

// WithNsHandle is WithHandle for a namespace already open; vnetns.None()
// is the caller's own.
func WithNsHandle(ns vnetns.NsHandle, fn func(h *netlink.Handle) error, families ...int) error {
	h, err := netlink.NewHandleAt(ns, families...)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer h.Close()
	return fn(h)
}
