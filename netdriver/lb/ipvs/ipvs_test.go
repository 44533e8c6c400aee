package ipvs

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// On a kernel without IPVS (this project's build machine) New must fail at
// once, before it touches the namespace, and say what is missing.
func TestNewNamesMissingIPVS(t *testing.T) {
	if _, err := netlink.GenlFamilyGet("IPVS"); err == nil {
		t.Skip("this kernel has IPVS; the VM test (vmtest/run.sh) covers the backend")
	}
	b, err := New("/proc/self/ns/net", netip.MustParseAddr("10.0.1.37"))
	if err == nil {
		b.Close()
		t.Fatal("New succeeded on a kernel without IPVS")
	}
	if !errors.Is(err, ErrNoIPVS) {
		t.Errorf("error %v does not wrap ErrNoIPVS", err)
	}
	for _, want := range []string{"IPVS", "CONFIG_IP_VS", "ip_vs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	t.Logf("as a user sees it: %v", err)
}

func TestNewRefusesNonIPv4Endpoint(t *testing.T) {
	_, err := New("", netip.MustParseAddr("fd00::37"))
	if err == nil || !strings.Contains(err.Error(), "not IPv4") {
		t.Fatalf("error %v, want one about IPv4", err)
	}
}
