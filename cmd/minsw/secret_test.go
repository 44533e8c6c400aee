package main

import (
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/minsw/minsw/manager/allocator"
	"github.com/minsw/minsw/manager/controlapi"
	"github.com/minsw/minsw/manager/store"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// serveControl serves a real Control API over a store without raft.
func serveControl(t *testing.T) (string, *store.Store) {
	t.Helper()
	st := store.New(nil, nil)
	// The allocator loop runs as on the leader: a create waits for it to
	// give the service its addresses (up to 10 s without it).
	a := allocator.New(st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	srv := grpc.NewServer()
	minswv1.RegisterControlServer(srv, controlapi.New(controlapi.Config{Store: st, Allocator: func() *allocator.Allocator { return a }}))
	path := filepath.Join(t.TempDir(), "minsw.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return path, st
}

func TestSecretCreateFromStdinLsInspectRm(t *testing.T) {
	sock, st := serveControl(t)
	out, errOut, code := runCLI(t, sock, "s3cr3t-bytes", "secret", "create", "--label", "env=prod", "db_password", "-")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	if len(id) != 25 {
		t.Fatalf("create printed %q, want the 25-character ID", out)
	}
	out, _, _ = runCLI(t, sock, "", "secret", "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "DRIVER") ||
		!strings.Contains(lines[1], id) || !strings.Contains(lines[1], "db_password") {
		t.Fatalf("ls:\n%s", out)
	}
	out, _, code = runCLI(t, sock, "", "secret", "inspect", "db_password")
	if code != 0 || !strings.Contains(out, `"ID": "`+id+`"`) || !strings.Contains(out, `"env": "prod"`) || !strings.Contains(out, `"Name": "db_password"`) {
		t.Fatalf("inspect:\n%s", out)
	}
	if strings.Contains(out, "s3cr3t") || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte("s3cr3t-bytes"))) || strings.Contains(out, "Data") {
		t.Fatalf("inspect shows the secret's data:\n%s", out)
	}
	st.View(func(tx store.ReadTx) {
		if string(tx.SecretByName("db_password").GetSpec().GetData()) != "s3cr3t-bytes" {
			t.Fatal("stdin was not stored as the secret's data")
		}
	})
	out, _, code = runCLI(t, sock, "", "secret", "rm", "db_password")
	if code != 0 || strings.TrimSpace(out) != "db_password" {
		t.Fatalf("rm: %d %q", code, out)
	}
	out, _, _ = runCLI(t, sock, "", "secret", "ls", "-q")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("ls after rm: %q", out)
	}
}

func TestConfigCreateFromFileInspectShowsData(t *testing.T) {
	sock, _ := serveControl(t)
	file := filepath.Join(t.TempDir(), "nginx.conf")
	if err := os.WriteFile(file, []byte("server { listen 80; }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, sock, "", "config", "create", "nginx.conf", file); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	out, _, _ := runCLI(t, sock, "", "config", "inspect", "nginx.conf")
	if !strings.Contains(out, `"Data": "`+base64.StdEncoding.EncodeToString([]byte("server { listen 80; }\n"))+`"`) {
		t.Fatalf("inspect:\n%s", out)
	}
	out, _, _ = runCLI(t, sock, "", "config", "ls")
	if strings.Contains(out, "DRIVER") || !strings.Contains(out, "nginx.conf") {
		t.Fatalf("ls:\n%s", out)
	}
	out, _, _ = runCLI(t, sock, "", "config", "inspect", "--pretty", "nginx.conf")
	if !strings.Contains(out, "Name:              nginx.conf") || !strings.Contains(out, "server { listen 80; }") {
		t.Fatalf("pretty:\n%s", out)
	}
}

func TestSecretCreateBadInput(t *testing.T) {
	sock, st := serveControl(t)
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, 500*1024+1), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"driver", "x", []string{"secret", "create", "--driver", "vault", "s", "-"}, "--driver is not supported"},
		{"template driver", "x", []string{"config", "create", "--template-driver", "golang", "c", "-"}, "--template-driver is not supported"},
		{"invalid name", "x", []string{"secret", "create", "bad/name", "-"}, `invalid secret name "bad/name"`},
		{"over the limit", "", []string{"secret", "create", "big", big}, "secret data must be larger than 0 and less than 512000 bytes"},
		{"empty", "", []string{"secret", "create", "empty", "-"}, "must be larger than 0"},
		{"missing file", "", []string{"secret", "create", "s", "/nonexistent/file"}, `error reading content from "/nonexistent/file": no such file or directory`},
		{"unknown secret", "", []string{"secret", "inspect", "nosuch"}, "secret nosuch not found"},
		{"no file argument", "", []string{"secret", "create", "s"}, `"minsw secret create" requires exactly 2 arguments.`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, sock, c.stdin, c.args...)
			if code == 0 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "rpc error") {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, c.want)
			}
		})
	}
	st.View(func(tx store.ReadTx) {
		if n := len(tx.Secrets()) + len(tx.Configs()); n != 0 {
			t.Fatalf("refused creates left %d objects", n)
		}
	})
}

func TestServiceCreateAndUpdateStorageFlags(t *testing.T) {
	sock, st := serveControl(t)
	for _, a := range [][]string{{"secret", "create", "app-key", "-"}, {"secret", "create", "ssh-key", "-"}, {"config", "create", "redis-config", "-"}} {
		if _, errOut, code := runCLI(t, sock, "data", a...); code != 0 {
			t.Fatal(errOut)
		}
	}
	_, errOut, code := runCLI(t, sock, "", "service", "create", "-d", "--name", "db",
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
	_, errOut, code = runCLI(t, sock, "", "service", "update", "-d",
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
	if _, errOut, code := runCLI(t, sock, "", "secret", "rm", "app-key"); code != 0 {
		t.Fatalf("rm freed secret: %s", errOut)
	}
	_, errOut, code = runCLI(t, sock, "", "secret", "rm", "ssh-key")
	if code == 0 || strings.TrimSpace(errOut) != "Error response from daemon: secret 'ssh-key' is in use by the following service: db" {
		t.Fatalf("rm used secret: %d %q", code, errOut)
	}
}

func TestServiceCreateStorageBadInput(t *testing.T) {
	sock, st := serveControl(t)
	if _, errOut, code := runCLI(t, sock, "x", "secret", "create", "pw", "-"); code != 0 {
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
			_, errOut, code := runCLI(t, sock, "", args...)
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
	sock, _ := serveControl(t)
	runCLI(t, sock, "x", "secret", "create", "app-key", "-")
	runCLI(t, sock, "x", "config", "create", "redis-config", "-")
	if _, errOut, code := runCLI(t, sock, "", "service", "create", "-d", "--name", "db", "--secret", "source=app-key,target=app",
		"--config", "redis-config", "--mount", "type=volume,src=dbdata,dst=/data,ro", "redis"); code != 0 {
		t.Fatal(errOut)
	}
	out, _, _ := runCLI(t, sock, "", "service", "inspect", "--pretty", "db")
	flat := regexp.MustCompile(`[ \t]+`).ReplaceAllString(out, " ")
	for _, want := range []string{"Mounts:\n Target: /data\n Source: dbdata\n ReadOnly: true\n Type: volume\n",
		"Configs:\n Target: /redis-config\n Source: redis-config\n", "Secrets:\n Target: app\n Source: app-key\n"} {
		if !strings.Contains(flat, want) {
			t.Errorf("pretty lacks %q:\n%s", want, out)
		}
	}
}
