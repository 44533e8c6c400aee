package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ip runs ip(8) with args and returns its error with its stderr.
func ip(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// topology makes the bridge (no address, IPv6 off so it gets no link-local
// either) and one namespace per node and for the registry, each with eth0 on
// the bridge, its underlay address, loopback up, and no default route.
func (l *Lab) topology(ctx context.Context) error {
	if err := ip(ctx, "link", "add", l.Bridge, "type", "bridge"); err != nil {
		return err
	}
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+l.Bridge+"/disable_ipv6", []byte("1"), 0o644)
	if err := ip(ctx, "link", "set", l.Bridge, "up"); err != nil {
		return err
	}
	for _, n := range append(append([]Node(nil), l.Nodes...), l.Registry) {
		if err := l.addNode(ctx, n); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	return nil
}

func (l *Lab) addNode(ctx context.Context, n Node) error {
	if err := ip(ctx, "netns", "add", n.Netns); err != nil {
		return err
	}
	if err := ip(ctx, "link", "add", n.Veth, "type", "veth", "peer", "name", "eth0", "netns", n.Netns); err != nil {
		return err
	}
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+n.Veth+"/disable_ipv6", []byte("1"), 0o644)
	for _, args := range [][]string{
		{"link", "set", n.Veth, "master", l.Bridge, "up"},
		{"-n", n.Netns, "link", "set", "lo", "up"},
		{"-n", n.Netns, "addr", "add", n.IP + "/24", "dev", "eth0"},
		{"-n", n.Netns, "link", "set", "eth0", "up"},
	} {
		if err := ip(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// SetLink puts node n's underlay link up or down (the fault tests cut a
// worker off with it).
func (l *Lab) SetLink(ctx context.Context, n Node, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ip(ctx, "link", "set", n.Veth, state)
}

// removeTopology deletes the namespaces (their eth0 and veth peers go with
// them) and the bridge; missing ones are not errors.
func removeTopology(ctx context.Context, c Config) error {
	var errs []error
	for _, n := range append(append([]Node(nil), c.Nodes...), c.Registry) {
		if _, err := os.Stat(NetnsPath(n)); err == nil {
			if err := ip(ctx, "netns", "del", n.Netns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// A namespace's links go when the kernel cleans it up, a moment after
	// `ip netns del`: wait for that, then delete any veth still there.
	for _, n := range append(append([]Node(nil), c.Nodes...), c.Registry) {
		for i := 0; i < 100 && linkExists(n.Veth); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if linkExists(n.Veth) {
			if err := ip(ctx, "link", "del", n.Veth); err != nil && linkExists(n.Veth) {
				errs = append(errs, err)
			}
		}
	}
	if linkExists(c.Bridge) {
		if err := ip(ctx, "link", "del", c.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}
