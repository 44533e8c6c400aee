package netdriver

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCheckBackendChoice(t *testing.T) {
	for _, ok := range []string{"", "auto", "ipvs", "nftables"} {
		if err := CheckBackendChoice(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	if err := CheckBackendChoice("iptables"); err == nil || err.Error() != `invalid lb backend "iptables": want ipvs, nftables or auto` {
		t.Errorf("iptables: %v", err)
	}
}

// The driver's own configuration refuses a backend name in the same words
// as the daemon's flag, since it asks the same check.
func TestConfigChecksTheBackendAsTheFlag(t *testing.T) {
	c := DefaultConfig()
	c.ExecRoot = t.TempDir()
	c.VTEP = netip.MustParseAddr("192.168.56.10")
	c.LBBackend = "iptables"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), `invalid lb backend "iptables": want ipvs, nftables or auto`) {
		t.Fatalf("iptables: %v", err)
	}
	c.LBBackend = BackendIPVS
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("ipvs without its factory: %v", err)
	}
	c.LBBackend = BackendNFTables
	if err := c.Validate(); err != nil {
		t.Fatalf("nftables: %v", err)
	}
}
