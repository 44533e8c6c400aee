package ipsec

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/minsw/minsw/internal/errdefs"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gcm, cbc error
		want     Features
		wantErr  bool
	}{
		{"kernel with ESP and GCM", nil, nil, Features{ESP: true, AESGCM: true}, false},
		{"no ESP, no GCM (this lab's 6.18)", syscall.ENOSYS, syscall.EPROTONOSUPPORT, Features{}, false},
		{"ESP without GCM", syscall.ENOSYS, nil, Features{ESP: true}, false},
		{"GCM without ESP", syscall.EPROTONOSUPPORT, nil, Features{AESGCM: true}, false},
		{"no permission", syscall.EPERM, nil, Features{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := classify(func(s *netlink.XfrmState) error {
				if s.Aead != nil {
					return tc.gcm
				}
				return tc.cbc
			})
			if f != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("got %+v, %v", f, err)
			}
		})
	}
}

func TestRefusal(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Features
		want string
	}{
		{"nothing", Features{}, "overlay network mynet is encrypted but this node's kernel has no IPsec ESP (CONFIG_INET_ESP) / AES-GCM (CONFIG_CRYPTO_GCM)"},
		{"no GCM", Features{ESP: true}, "overlay network mynet is encrypted but this node's kernel has no AES-GCM (CONFIG_CRYPTO_GCM)"},
		{"all there: still refused, not sent in clear", Features{ESP: true, AESGCM: true}, "does not encrypt the overlay data plane"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Refusal("mynet", tc.f)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errdefs.Is(err, errdefs.KindFailedPrecondition) {
				t.Fatalf("%v", err)
			}
		})
	}
	c := NewCheckerWith(func() (Features, error) { return Features{}, errors.New("no netlink") })
	if err := c.Check("n"); err == nil || !strings.Contains(err.Error(), "cannot tell") {
		t.Fatalf("undecidable kernel: %v", err)
	}
}

func TestValidateOption(t *testing.T) {
	for _, tc := range []struct {
		opts map[string]string
		ok   bool
	}{
		{nil, true}, {map[string]string{"encrypted": ""}, true}, {map[string]string{"encrypted": "true"}, true},
		{map[string]string{"encrypted": "false"}, false}, {map[string]string{"encrypted": "yes please"}, false},
	} {
		if err := ValidateOption(tc.opts); (err == nil) != tc.ok {
			t.Errorf("%v: %v", tc.opts, err)
		}
	}
	if Encrypted(map[string]string{"com.docker.network.driver.mtu": "1400"}) || !Encrypted(map[string]string{"encrypted": ""}) {
		t.Fatal("Encrypted")
	}
}

// The real kernel: the probe agrees with its config where both can be read.
func TestProbeThisKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the xfrm probe needs CAP_NET_ADMIN")
	}
	f, err := probeXfrm()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel: %+v; missing %v", f, f.Missing())
	if cf, err := probeConfig("/proc/config.gz"); err == nil && cf != f {
		t.Fatalf("xfrm probe says %+v, /proc/config.gz says %+v", f, cf)
	}
}
