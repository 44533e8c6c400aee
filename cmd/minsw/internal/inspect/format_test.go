package inspect_test

import (
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
)

// Every inspect takes docker's --format over its JSON.
func TestInspectFormat(t *testing.T) {
	sock := clitest.Seed().Serve(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "inspect", "--format", "{{.Spec.Name}} {{.ID}}", "web"}, "web jozc1x1c1zpyjl9b5j5abzm0g\n"},
		{[]string{"service", "inspect", "-f", "{{json .Spec.Mode}}", "web"}, `{"Replicated":{"Replicas":2}}` + "\n"},
		{[]string{"network", "inspect", "-f", "{{.Name}} {{.Driver}}", "mynet", "ingress"}, "mynet overlay\ningress overlay\n"},
		{[]string{"node", "inspect", "--format", "{{.Description.Hostname}}", "self"}, "swarm-manager\n"},
		{[]string{"container", "inspect", "--format", "{{.Name}}", "36dce35d56e8"}, "/client.1.sg9b3dqrgru4f14k2tpxzg2ei\n"},
	} {
		out, errOut, code := clitest.Run(t, sock, "", tc.args...)
		if code != 0 || out != tc.want {
			t.Errorf("%v: %d %q %q, want %q", tc.args, code, out, errOut, tc.want)
		}
	}
	_, errOut, code := clitest.Run(t, sock, "", "service", "inspect", "--format", "{{.Spec.Name", "web")
	if code != 1 || errOut == "" {
		t.Errorf("bad template: %d %q", code, errOut)
	}
}
