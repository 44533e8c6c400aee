package storageopts

import (
	"strings"
	"testing"
)

// FuzzParse feeds --mount, --secret and --config values to the parsers: no
// panic, and whatever is accepted holds what the grammar promises.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"type=volume,source=my-volume,destination=/path/in/container,volume-label=color=red",
		`type=volume,src=nfs,dst=/app,volume-driver=local,volume-opt=type=nfs,"volume-opt=o=addr=10.0.0.10,rw"`,
		"type=bind,source=/srv,target=/srv,readonly,bind-propagation=rslave",
		"type=tmpfs,dst=/tmp,tmpfs-size=64m,tmpfs-mode=1770",
		"source=app-key,target=app,uid=1000,gid=1001,mode=0400",
		"ssh-key", "", ",", `"`, "target", "tmpfs-size=1e400",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if m, err := Mount(v); err == nil {
			if m.GetTarget() == "" {
				t.Fatalf("Mount(%q) accepted without a target", v)
			}
			if m.GetTmpfsOptions().GetSizeBytes() < 0 {
				t.Fatalf("Mount(%q): negative tmpfs size", v)
			}
		} else if strings.Contains(err.Error(), "\n") {
			t.Fatalf("Mount(%q): multi-line error %q", v, err)
		}
		if s, err := Secret(v); err == nil && s.GetSecretName() == "" {
			t.Fatalf("Secret(%q) accepted without a source", v)
		}
		if c, err := Config(v); err == nil && c.GetConfigName() == "" {
			t.Fatalf("Config(%q) accepted without a source", v)
		}
	})
}
