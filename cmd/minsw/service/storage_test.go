package service_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
	"github.com/minsw/minsw/manager/store"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestServiceCreateAndUpdateStorageFlags(t *testing.T) {
	sock, st := clitest.ServeControl(t)
	for _, a := range [][]string{{"secret", "create", "app-key", "-"}, {"secret", "create", "ssh-key", "-"}, {"config", "create", "redis-config", "-"}} {
		if _, errOut, code := clitest.Run(t, sock, "data", a...); code != 0 {
			t.Fatal(errOut)
		}
	}
	_, errOut, code := clitest.Run(t, sock, "", "service", "create", "-d", "--name", "db",
		"--secret", "source=app-key,target=app,uid=1000,gid=1001,mode=0400",
		"--config", "source=redis-config,target=/usr/local/etc/redis/redis.conf,mode=0440",
		"--mount", "type=volume,source=dbdata,destination=/var/lib/db",
		"--mount", "type=tmpfs,destination=/cache,tmpfs-size=10m",
		"redis")
	if code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	container := func() *minswv1.ContainerSpec {
		var c *minswv1.ContainerSpec
		st.View(func(tx store.ReadTx) { c = tx.ServiceByName("db").GetSpec().GetTask().GetContainer() })
		return c
	}
	c := container()
	if len(c.GetSecrets()) != 1 || c.GetSecrets()[0].GetFile().GetMode() != 0o400 || c.GetSecrets()[0].GetFile().GetUid() != "1000" ||
		len(c.GetConfigs()) != 1 || c.GetConfigs()[0].GetFile().GetName() != "/usr/local/etc/redis/redis.conf" ||
		len(c.GetMounts()) != 2 || c.GetMounts()[1].GetTmpfsOptions().GetSizeBytes() != 10<<20 {
		t.Fatalf("stored spec %v", c)
	}
	_, errOut, code = clitest.Run(t, sock, "", "service", "update", "-d",
		"--secret-rm", "app-key", "--secret-add", "ssh-key",
		"--config-rm", "redis-config",
		"--mount-rm", "/cache", "--mount-add", "type=bind,src=/srv,dst=/srv,readonly", "db")
	if code != 0 {
		t.Fatalf("update: %s", errOut)
	}
	c = container()
	if len(c.GetSecrets()) != 1 || c.GetSecrets()[0].GetSecretName() != "ssh-key" || c.GetSecrets()[0].GetFile().GetName() != "ssh-key" ||
		len(c.GetConfigs()) != 0 || len(c.GetMounts()) != 2 || c.GetMounts()[1].GetType() != minswv1.MountType_MOUNT_TYPE_BIND || !c.GetMounts()[1].GetReadonly() {
		t.Fatalf("updated spec %v", c)
	}
	// app-key is free again; ssh-key is not.
	if _, errOut, code := clitest.Run(t, sock, "", "secret", "rm", "app-key"); code != 0 {
		t.Fatalf("rm freed secret: %s", errOut)
	}
	_, errOut, code = clitest.Run(t, sock, "", "secret", "rm", "ssh-key")
	if code == 0 || strings.TrimSpace(errOut) != "Error response from daemon: secret 'ssh-key' is in use by the following service: db" {
		t.Fatalf("rm used secret: %d %q", code, errOut)
	}
}

func TestServiceCreateStorageBadInput(t *testing.T) {
	sock, st := clitest.ServeControl(t)
	if _, errOut, code := clitest.Run(t, sock, "x", "secret", "create", "pw", "-"); code != 0 {
		t.Fatal(errOut)
	}
	cases := []struct {
		flags []string
		want  string
	}{
		{[]string{"--secret", "nosuch"}, "secret nosuch not found"},
		{[]string{"--config", "nosuch"}, "config nosuch not found"},
		{[]string{"--secret", "pw", "--secret", "source=pw,target=pw"}, "have a conflicting target: /run/secrets/pw"},
		{[]string{"--mount", "type=volume,source=data"}, `invalid argument "type=volume,source=data" for "--mount" flag: target is required`},
		{[]string{"--mount", "type=bind,source=data,target=/data"}, `invalid mount config for type "bind": invalid mount path: 'data' mount path must be absolute`},
		{[]string{"--mount", "type=nfs,target=/data"}, `invalid mount type "nfs"`},
		{[]string{"--mount", "type=tmpfs,target=/t,colour=red"}, "unexpected key 'colour' in 'colour=red'"},
		{[]string{"--secret", "source=pw,mode=rw"}, "invalid mode specified"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.flags, " "), func(t *testing.T) {
			args := append(append([]string{"service", "create", "-d", "--name", "bad"}, c.flags...), "redis")
			_, errOut, code := clitest.Run(t, sock, "", args...)
			if code == 0 || !strings.Contains(errOut, c.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || strings.Contains(errOut, "rpc error") {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, c.want)
			}
		})
	}
	st.View(func(tx store.ReadTx) {
		if n := len(tx.Services()); n != 0 {
			t.Fatalf("refused creates left %d services", n)
		}
	})
}

func TestServiceInspectPrettyShowsStorage(t *testing.T) {
	sock, _ := clitest.ServeControl(t)
	clitest.Run(t, sock, "x", "secret", "create", "app-key", "-")
	clitest.Run(t, sock, "x", "config", "create", "redis-config", "-")
	if _, errOut, code := clitest.Run(t, sock, "", "service", "create", "-d", "--name", "db", "--secret", "source=app-key,target=app",
		"--config", "redis-config", "--mount", "type=volume,src=dbdata,dst=/data,ro", "redis"); code != 0 {
		t.Fatal(errOut)
	}
	out, _, _ := clitest.Run(t, sock, "", "service", "inspect", "--pretty", "db")
	flat := regexp.MustCompile(`[ \t]+`).ReplaceAllString(out, " ")
	for _, want := range []string{"Mounts:\n Target: /data\n Source: dbdata\n ReadOnly: true\n Type: volume\n",
		"Configs:\n Target: /redis-config\n Source: redis-config\n", "Secrets:\n Target: app\n Source: app-key\n"} {
		if !strings.Contains(flat, want) {
			t.Errorf("pretty lacks %q:\n%s", want, out)
		}
	}
}
