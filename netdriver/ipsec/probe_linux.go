package ipsec

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"

	"github.com/minsw/minsw/netdriver/netns"
)

// Probe asks the kernel: it adds ESP states to the xfrm database of a
// scratch network namespace (the host's is never touched) and reads the
// errors, which say exactly what is missing: ENOSYS, an algorithm the
// crypto layer does not have; EPROTONOSUPPORT, no ESP. Where that cannot
// run (no CAP_NET_ADMIN), the kernel's config (/proc/config.gz) decides.
func Probe() (Features, error) {
	f, err := probeXfrm()
	if err == nil {
		return f, nil
	}
	if cf, cerr := probeConfig("/proc/config.gz"); cerr == nil {
		return cf, nil
	}
	return Features{}, err
}

// probeXfrm runs the probe on a locked thread inside a new namespace.
func probeXfrm() (Features, error) {
	type result struct {
		f   Features
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked: if switching back failed it must
		// die with the goroutine rather than serve others in the wrong
		// namespace.
		orig, err := vnetns.Get()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		ns, err := vnetns.New()
		if err != nil {
			ch <- result{err: fmt.Errorf("ipsec: a scratch namespace for the probe: %w", err)}
			return
		}
		defer ns.Close()
		if serr := vnetns.Set(orig); serr != nil {
			ch <- result{err: serr}
			return
		}
		runtime.UnlockOSThread()
		var f Features
		err = netns.WithNsHandle(ns, func(h *netlink.Handle) (err error) {
			f, err = classify(h.XfrmStateAdd)
			return err
		})
		ch <- result{f, err}
	}()
	r := <-ch
	return r.f, r.err
}

// classify derives the features from adding two states: ESP with AES-GCM
// (what Swarm uses), then, if that failed for the algorithm, ESP with
// AES-CBC and HMAC-SHA256 to learn whether ESP itself is there.
func classify(add func(*netlink.XfrmState) error) (Features, error) {
	state := func(spi int) *netlink.XfrmState {
		return &netlink.XfrmState{Src: net.ParseIP("192.0.2.1"), Dst: net.ParseIP("192.0.2.2"),
			Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TRANSPORT, Spi: spi}
	}
	gcm := state(0x4d53)
	gcm.Aead = &netlink.XfrmStateAlgo{Name: "rfc4106(gcm(aes))", Key: make([]byte, 20), ICVLen: 128}
	switch err := add(gcm); {
	case err == nil:
		return Features{ESP: true, AESGCM: true}, nil
	case errors.Is(err, syscall.EPROTONOSUPPORT):
		return Features{ESP: false, AESGCM: true}, nil
	case !errors.Is(err, syscall.ENOSYS):
		return Features{}, fmt.Errorf("ipsec: probing ESP with AES-GCM: %w", err)
	}
	cbc := state(0x4d54)
	cbc.Crypt = &netlink.XfrmStateAlgo{Name: "cbc(aes)", Key: make([]byte, 16)}
	cbc.Auth = &netlink.XfrmStateAlgo{Name: "hmac(sha256)", Key: make([]byte, 32), TruncateLen: 128}
	switch err := add(cbc); {
	case err == nil:
		return Features{ESP: true}, nil
	case errors.Is(err, syscall.EPROTONOSUPPORT):
		return Features{}, nil
	default:
		return Features{}, fmt.Errorf("ipsec: probing ESP: %w", err)
	}
}

// probeConfig reads CONFIG_INET_ESP and CONFIG_CRYPTO_GCM from a gzipped
// kernel config (y or m: built in or a module).
func probeConfig(path string) (Features, error) {
	fh, err := os.Open(path)
	if err != nil {
		return Features{}, err
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return Features{}, err
	}
	var f Features
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || (v != "y" && v != "m") {
			continue
		}
		switch k {
		case "CONFIG_INET_ESP":
			f.ESP = true
		case "CONFIG_CRYPTO_GCM":
			f.AESGCM = true
		}
	}
	return f, sc.Err()
}
