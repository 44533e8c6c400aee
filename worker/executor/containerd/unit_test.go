package containerd

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minsw/minsw/worker/executor"
)

func TestTailOffset(t *testing.T) {
	for _, tc := range []struct {
		content string
		n       int
		want    string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 0, ""},
		{"a\nb\nc\n", 1, "c\n"},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 9, "a\nb\nc\n"},
		{"a\nb\nc", 1, "c"},
		{"a\nb\nc", 2, "b\nc"},
		{"\n\n", 1, "\n"},
		{strings.Repeat("x", 70000) + "\n" + strings.Repeat("y", 70000) + "\nz\n", 2, strings.Repeat("y", 70000) + "\nz\n"},
	} {
		p := filepath.Join(t.TempDir(), "log")
		os.WriteFile(p, []byte(tc.content), 0o644)
		f, _ := os.Open(p)
		off, err := tailOffset(f, tc.n)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := tc.content[off:]; got != tc.want {
			t.Errorf("tail %d of %.20q: %.20q, want %.20q", tc.n, tc.content, got, tc.want)
		}
	}
}

func TestProcessArgsFollowDocker(t *testing.T) {
	ep, cmd := []string{"/entry"}, []string{"serve"}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          string
	}{
		{"image defaults", nil, nil, "/entry serve"},
		{"args replace cmd", nil, []string{"ping", "8.8.8.8"}, "/entry ping 8.8.8.8"},
		{"command drops cmd", []string{"sh"}, nil, "sh"},
		{"command and args", []string{"sh"}, []string{"-c", "x"}, "sh -c x"},
	} {
		got := strings.Join(processArgs(executor.Spec{Command: tc.command, Args: tc.args}, ep, cmd), " ")
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	host := []byte("# by dhcp\nnameserver 127.0.0.53\nnameserver 192.168.56.1\nsearch lab\n")
	if got := string(resolvConf(executor.Spec{}, host)); got != "# by dhcp\nnameserver 192.168.56.1\nsearch lab\n" {
		t.Errorf("from host: %q", got)
	}
	got := string(resolvConf(executor.Spec{DNS: []string{"127.0.0.11"}, DNSSearch: []string{"a", "b"}, DNSOpts: []string{"ndots:0", "timeout:1"}}, host))
	if got != "nameserver 127.0.0.11\nsearch a b\noptions ndots:0 timeout:1\n" {
		t.Errorf("from spec: %q", got)
	}
}

func TestHostsFile(t *testing.T) {
	got := string(hostsFile(executor.Spec{Name: "web.1.x"}, "36dce35d56e8"))
	if !strings.HasPrefix(got, "127.0.0.1\tlocalhost\n") || !strings.HasSuffix(got, "127.0.1.1\t36dce35d56e8 web.1.x\n") {
		t.Errorf("default: %q", got)
	}
	got = string(hostsFile(executor.Spec{Name: "web.1.x", Hosts: []string{"10.0.1.31  36dce35d56e8 web.1.x"}}, "36dce35d56e8"))
	if strings.Contains(got, "127.0.1.1") || !strings.HasSuffix(got, "10.0.1.31\t36dce35d56e8\tweb.1.x\n") {
		t.Errorf("with own address: %q", got)
	}
}

func TestImageRefs(t *testing.T) {
	for in, want := range map[string][2]string{
		"containous/whoami":          {"docker.io/containous/whoami:latest", "containous/whoami:latest"},
		"xiaopeng163/net-box:latest": {"docker.io/xiaopeng163/net-box:latest", "xiaopeng163/net-box:latest"},
		"busybox":                    {"docker.io/library/busybox:latest", "busybox:latest"},
		"192.168.56.10:5000/x/y:tag": {"192.168.56.10:5000/x/y:tag", "192.168.56.10:5000/x/y:tag"},
	} {
		r, err := parseImageRef(in)
		if err != nil {
			t.Fatal(err)
		}
		if r.full != want[0] || r.familiar != want[1] {
			t.Errorf("%s: %s / %s, want %v", in, r.full, r.familiar, want)
		}
	}
}

func TestRegistryHosts(t *testing.T) {
	cfg := DefaultConfig("n")
	cfg.RegistryMirror = "http://192.168.56.10:5000"
	cfg.InsecureRegistries = []string{"10.1.1.1:5000"}
	r, err := newRegistries(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{
		"docker.io":        "http://192.168.56.10:5000/v2",
		"10.1.1.1:5000":    "http://10.1.1.1:5000/v2",
		"127.0.0.1:5000":   "http://127.0.0.1:5000/v2",
		"registry.example": "https://registry.example/v2",
	} {
		hs, err := r.hosts(host, nil)
		if err != nil || len(hs) != 1 {
			t.Fatalf("%s: %v %v", host, hs, err)
		}
		if got := hs[0].Scheme + "://" + hs[0].Host + hs[0].Path; got != want {
			t.Errorf("%s: %s, want %s", host, got, want)
		}
	}
	cfg.RegistryMirror = ""
	r, _ = newRegistries(cfg)
	if hs, _ := r.hosts("docker.io", nil); hs[0].Host != "registry-1.docker.io" || hs[0].Scheme != "https" {
		t.Errorf("docker hub without mirror: %+v", hs[0])
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig("swarm-worker1")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, adjust := range map[string]func(*Config){
		"no address":         func(c *Config) { c.Address = "" },
		"bad namespace":      func(c *Config) { c.Namespace = "bad ns" },
		"empty namespace":    func(c *Config) { c.Namespace = "" },
		"mirror with path":   func(c *Config) { c.RegistryMirror = "192.168.56.10:5000" },
		"mirror ftp":         func(c *Config) { c.RegistryMirror = "ftp://x" },
		"insecure with url":  func(c *Config) { c.InsecureRegistries = []string{"http://x:5000"} },
		"relative state dir": func(c *Config) { c.StateDir = "state" },
		"no snapshotter":     func(c *Config) { c.Snapshotter = "" },
		"zero pull timeout":  func(c *Config) { c.PullTimeout = 0 },
		"negative log poll":  func(c *Config) { c.LogPollInterval = -time.Second },
	} {
		c := good
		adjust(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPullErrorReadsLikeDocker(t *testing.T) {
	ref, _ := parseImageRef("containous/whoamix")
	err := newPullError(ref, errors.New("docker.io/containous/whoamix:latest: not found"))
	if !errors.Is(err, executor.ErrImagePull) {
		t.Error("not ErrImagePull")
	}
}

// TestRegistryAuthForPulls: the executor decodes X-Registry-Auth through
// registryresolve's decoder; a bad value is a pull error in one line, and
// a registry's challenge gets the credentials only when they are for it,
// an identity token as the secret.
func TestRegistryAuthForPulls(t *testing.T) {
	if _, err := parseRegistryAuth("%%%"); !errors.Is(err, executor.ErrImagePull) || !strings.Contains(err.Error(), "X-Registry-Auth): not base64") {
		t.Fatalf("bad header: %v", err)
	}
	enc := func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }
	c, err := parseRegistryAuth(enc(`{"username":"alice","password":"pw","serveraddress":"reg.example:5000"}`))
	if err != nil {
		t.Fatal(err)
	}
	if u, p, _ := forHost(c)("reg.example:5000"); u != "alice" || p != "pw" {
		t.Errorf("own registry got %q/%q", u, p)
	}
	if u, p, _ := forHost(c)("other.example"); u != "" || p != "" {
		t.Errorf("another registry got %q/%q", u, p)
	}
	c, _ = parseRegistryAuth(enc(`{"identitytoken":"tok"}`))
	if u, p, _ := forHost(c)("reg.example"); u != "" || p != "tok" {
		t.Errorf("identity token: %q/%q", u, p)
	}
	if c, err := parseRegistryAuth(""); c != nil || err != nil {
		t.Errorf("no header: %v %v", c, err)
	}
}
