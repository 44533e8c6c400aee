package secret_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minsw/minsw/cmd/minsw/internal/clitest"
	"github.com/minsw/minsw/manager/store"
)

func TestSecretCreateFromStdinLsInspectRm(t *testing.T) {
	sock, st := clitest.ServeControl(t)
	out, errOut, code := clitest.Run(t, sock, "s3cr3t-bytes", "secret", "create", "--label", "env=prod", "db_password", "-")
	if code != 0 {
		t.Fatalf("create: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	if len(id) != 25 {
		t.Fatalf("create printed %q, want the 25-character ID", out)
	}
	out, _, _ = clitest.Run(t, sock, "", "secret", "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "DRIVER") ||
		!strings.Contains(lines[1], id) || !strings.Contains(lines[1], "db_password") {
		t.Fatalf("ls:\n%s", out)
	}
	out, _, code = clitest.Run(t, sock, "", "secret", "inspect", "db_password")
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
	out, _, code = clitest.Run(t, sock, "", "secret", "rm", "db_password")
	if code != 0 || strings.TrimSpace(out) != "db_password" {
		t.Fatalf("rm: %d %q", code, out)
	}
	out, _, _ = clitest.Run(t, sock, "", "secret", "ls", "-q")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("ls after rm: %q", out)
	}
}

func TestConfigCreateFromFileInspectShowsData(t *testing.T) {
	sock, _ := clitest.ServeControl(t)
	file := filepath.Join(t.TempDir(), "nginx.conf")
	if err := os.WriteFile(file, []byte("server { listen 80; }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := clitest.Run(t, sock, "", "config", "create", "nginx.conf", file); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	out, _, _ := clitest.Run(t, sock, "", "config", "inspect", "nginx.conf")
	if !strings.Contains(out, `"Data": "`+base64.StdEncoding.EncodeToString([]byte("server { listen 80; }\n"))+`"`) {
		t.Fatalf("inspect:\n%s", out)
	}
	out, _, _ = clitest.Run(t, sock, "", "config", "ls")
	if strings.Contains(out, "DRIVER") || !strings.Contains(out, "nginx.conf") {
		t.Fatalf("ls:\n%s", out)
	}
	out, _, _ = clitest.Run(t, sock, "", "config", "inspect", "--pretty", "nginx.conf")
	if !strings.Contains(out, "Name:              nginx.conf") || !strings.Contains(out, "server { listen 80; }") {
		t.Fatalf("pretty:\n%s", out)
	}
}

func TestSecretCreateBadInput(t *testing.T) {
	sock, st := clitest.ServeControl(t)
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
			_, errOut, code := clitest.Run(t, sock, c.stdin, c.args...)
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
