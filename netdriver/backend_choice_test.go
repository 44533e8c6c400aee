package netdriver

import "testing"

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
