package storageopts

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// The examples are docker's documentation's (docker service create), as a
// shell hands them over.
func TestMountDockerExamples(t *testing.T) {
	vol, bind, tmpfs := minswv1.MountType_MOUNT_TYPE_VOLUME, minswv1.MountType_MOUNT_TYPE_BIND, minswv1.MountType_MOUNT_TYPE_TMPFS
	cases := []struct {
		name, in string
		want     *minswv1.Mount
	}{
		{"named volume with labels", "type=volume,source=my-volume,destination=/path/in/container,volume-label=color=red,volume-label=shape=round",
			&minswv1.Mount{Type: vol, Source: "my-volume", Target: "/path/in/container",
				VolumeOptions: &minswv1.VolumeOptions{Labels: map[string]string{"color": "red", "shape": "round"}}}},
		{"type defaults to volume", "source=data,target=/data",
			&minswv1.Mount{Type: vol, Source: "data", Target: "/data"}},
		{"anonymous volume", "type=volume,destination=/path/in/container",
			&minswv1.Mount{Type: vol, Target: "/path/in/container"}},
		{"local driver with nfs options, quoted field", `type=volume,source=nfsvolume,target=/app,volume-driver=local,volume-opt=type=nfs,volume-opt=device=:/var/docker-nfs,"volume-opt=o=addr=10.0.0.10,rw"`,
			&minswv1.Mount{Type: vol, Source: "nfsvolume", Target: "/app", VolumeOptions: &minswv1.VolumeOptions{DriverConfig: &minswv1.Driver{
				Name: "local", Options: map[string]string{"type": "nfs", "device": ":/var/docker-nfs", "o": "addr=10.0.0.10,rw"}}}}},
		{"nocopy and readonly as bare keys", "type=volume,src=data,dst=/data,volume-nocopy,readonly",
			&minswv1.Mount{Type: vol, Source: "data", Target: "/data", Readonly: true, VolumeOptions: &minswv1.VolumeOptions{Nocopy: true}}},
		{"ro=1", "type=volume,src=data,dst=/data,ro=1", &minswv1.Mount{Type: vol, Source: "data", Target: "/data", Readonly: true}},
		{"readonly=false", "type=volume,src=data,dst=/data,readonly=false", &minswv1.Mount{Type: vol, Source: "data", Target: "/data"}},
		{"bind", "type=bind,source=/path/on/host,destination=/path/in/container",
			&minswv1.Mount{Type: bind, Source: "/path/on/host", Target: "/path/in/container"}},
		{"bind with propagation", "type=bind,src=/srv,dst=/srv,bind-propagation=rslave,ro",
			&minswv1.Mount{Type: bind, Source: "/srv", Target: "/srv", Readonly: true, BindOptions: &minswv1.BindOptions{Propagation: minswv1.MountPropagation_MOUNT_PROPAGATION_RSLAVE}}},
		{"tmpfs with size and mode", "type=tmpfs,destination=/tmp,tmpfs-size=64m,tmpfs-mode=1770",
			&minswv1.Mount{Type: tmpfs, Target: "/tmp", TmpfsOptions: &minswv1.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1770}}},
		{"upper-case type", "type=TMPFS,dst=/run/x", &minswv1.Mount{Type: tmpfs, Target: "/run/x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Mount(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, c.want) {
				t.Fatalf("got  %v\nwant %v", got, c.want)
			}
		})
	}
}

func TestMountBadInput(t *testing.T) {
	cases := []struct{ in, want string }{
		{"type=volume,source=data", "target is required"},
		{"type=nfs,target=/x", `invalid mount type "nfs"`},
		{"type=volume,target=/x,colour=red", "unexpected key 'colour' in 'colour=red'"},
		{"type=volume,target", "invalid field 'target' must be a key=value pair"},
		{"type=bind,src=/a,dst=/b,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"},
		{"type=volume,src=a,dst=/b,bind-propagation=shared", "cannot mix 'bind-*' options with mount type 'volume'"},
		{"type=volume,dst=/b,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'volume'"},
		{"type=bind,src=/a,dst=/b,bind-propagation=sideways", `invalid bind propagation "sideways"`},
		{"type=tmpfs,dst=/t,tmpfs-size=lots", "invalid value for tmpfs-size: lots"},
		{"type=tmpfs,dst=/t,tmpfs-mode=999", "invalid value for tmpfs-mode: 999"},
		{"type=volume,dst=/t,readonly=maybe", "invalid value for readonly: maybe"},
		{`type=volume,"dst=/t`, "invalid value"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := Mount(c.in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestSecretAndConfigDockerExamples(t *testing.T) {
	secrets := []struct {
		name, in string
		want     *minswv1.SecretReference
	}{
		{"bare name", "ssh-key", &minswv1.SecretReference{SecretName: "ssh-key", File: &minswv1.FileTarget{Name: "ssh-key"}}},
		{"source and target", "source=ssh-key,target=ssh", &minswv1.SecretReference{SecretName: "ssh-key", File: &minswv1.FileTarget{Name: "ssh"}}},
		{"uid gid mode", "source=app-key,target=app,uid=1000,gid=1001,mode=0400",
			&minswv1.SecretReference{SecretName: "app-key", File: &minswv1.FileTarget{Name: "app", Uid: "1000", Gid: "1001", Mode: 0o400}}},
		{"src only", "src=pw", &minswv1.SecretReference{SecretName: "pw", File: &minswv1.FileTarget{}}},
	}
	for _, c := range secrets {
		t.Run("secret "+c.name, func(t *testing.T) {
			got, err := Secret(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, c.want) {
				t.Fatalf("got  %v\nwant %v", got, c.want)
			}
		})
	}
	cfg, err := Config("source=redis-config,target=/usr/local/etc/redis/redis.conf,mode=0440")
	if err != nil || cfg.GetConfigName() != "redis-config" || cfg.GetFile().GetName() != "/usr/local/etc/redis/redis.conf" || cfg.GetFile().GetMode() != 0o440 {
		t.Fatalf("config: %v %v", cfg, err)
	}
	cfg, err = Config("nginx.conf")
	if err != nil || cfg.GetConfigName() != "nginx.conf" || cfg.GetFile().GetName() != "" {
		t.Fatalf("bare config: %v %v", cfg, err)
	}
	for in, want := range map[string]string{
		"target=ssh":             "source is required",
		"source=a,colour=red":    "invalid field in secret request: colour",
		"source=a,mode=rw":       "invalid mode specified",
		"source=a,target":        "invalid field 'target' must be a key=value pair",
		"":                       "invalid value",
		"source=a,target=b,,c=d": "invalid field '' must be a key=value pair",
	} {
		if _, err := Secret(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Secret(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestRAMInBytes(t *testing.T) {
	for in, want := range map[string]int64{"10": 10, "10b": 10, "1k": 1024, "1kb": 1024, "64m": 64 << 20, "64MiB": 64 << 20, "1.5g": 3 << 29, "2T": 2 << 40} {
		if got, err := RAMInBytes(in); err != nil || got != want {
			t.Errorf("RAMInBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "-1", "ten"} {
		if _, err := RAMInBytes(in); err == nil {
			t.Errorf("RAMInBytes(%q) accepted", in)
		}
	}
}
