package containerd

import (
	"testing"

	"github.com/minsw/minsw/worker/executor"
)

// A task on the host network keeps the node's resolv.conf as it is: its
// loopback resolver is the node's own, reachable from the node's stack.
func TestResolvConfOnHostNetwork(t *testing.T) {
	host := []byte("nameserver 127.0.0.53\nsearch lab\n")
	if got := string(resolvConf(executor.Spec{HostNetwork: true}, host)); got != string(host) {
		t.Errorf("host network: %q", got)
	}
	if got := string(resolvConf(executor.Spec{}, host)); got != "search lab\n" {
		t.Errorf("own namespace: %q (the loopback resolver must go)", got)
	}
}
