package service

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
)

// flagsOfOtherIssues are docker service create flags that other issues add
// (13: health checks, update and rollback config; 14: mounts, secrets,
// configs). They count as covered here whether or not they have landed.
var flagsOfOtherIssues = map[string]string{
	"health-cmd": "13", "health-interval": "13", "health-retries": "13", "health-start-interval": "13",
	"health-start-period": "13", "health-timeout": "13", "no-healthcheck": "13",
	"update-failure-action": "13", "update-max-failure-ratio": "13", "update-monitor": "13", "update-order": "13",
	"rollback-delay": "13", "rollback-failure-action": "13", "rollback-max-failure-ratio": "13",
	"rollback-monitor": "13", "rollback-order": "13", "rollback-parallelism": "13",
	"mount": "14", "secret": "14", "config": "14",
}

// dockerFlagRE matches a flag line of docker's help: "  -d, --detach  words".
var dockerFlagRE = regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)(?: [a-z-]+)?\s{2,}(.*)$`)

// dockerServiceCreateFlags runs the real docker CLI's help (no engine needed)
// and returns its flags in order with their usage text.
func dockerServiceCreateFlags(t *testing.T) ([]string, map[string]string) {
	t.Helper()
	out, err := exec.Command("docker", "service", "create", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("docker service create --help (the docker CLI must be on PATH): %v\n%s", err, out)
	}
	var names []string
	usage := map[string]string{}
	last := ""
	for _, line := range strings.Split(string(out), "\n") {
		if m := dockerFlagRE.FindStringSubmatch(line); m != nil {
			last = m[1]
			names = append(names, last)
			usage[last] = m[2]
			continue
		}
		if last != "" && strings.HasPrefix(line, "          ") {
			usage[last] += " " + strings.TrimSpace(line)
			continue
		}
		last = ""
	}
	return names, usage
}

func stripDefault(s string) string {
	if i := strings.Index(s, " (default "); i >= 0 && strings.HasSuffix(strings.TrimSpace(s), ")") && !strings.Contains(s[i:], "=") {
		s = s[:i]
	}
	return strings.Join(strings.Fields(s), " ")
}

// TestServiceCreateCoversDockerFlags: every flag of the real `docker service
// create` is supported by `minsw service create`, or refused with a reason
// (refusedFlags), or belongs to another issue; flags that overlap carry
// docker's words.
func TestServiceCreateCoversDockerFlags(t *testing.T) {
	names, usage := dockerServiceCreateFlags(t)
	if len(names) < 70 {
		t.Fatalf("parsed only %d flags from docker's help", len(names))
	}
	cmd := newCreateCommand(cli.New(nil, &bytes.Buffer{}, &bytes.Buffer{}))
	ours := cmd.Flags()
	honoured, refused, elsewhere := 0, 0, 0
	for _, n := range names {
		f := ours.Lookup(n)
		switch {
		case refusedFlags[n] != "":
			if f == nil {
				t.Errorf("--%s is on the refused list but not accepted (it must be, to refuse it with its reason)", n)
			}
			refused++
		case f != nil:
			honoured++
		case flagsOfOtherIssues[n] != "":
			elsewhere++
			continue
		default:
			t.Errorf("docker service create --%s is neither supported by minsw nor refused with a reason", n)
			continue
		}
		if got, want := stripDefault(f.Usage), stripDefault(usage[n]); got != want {
			t.Errorf("--%s says %q, docker says %q", n, got, want)
		}
	}
	// Every one of ours that docker lacks is a mistake too (a typo'd name).
	ours.VisitAll(func(f *pflag.Flag) {
		if _, ok := usage[f.Name]; !ok && f.Name != "help" {
			t.Errorf("minsw service create --%s is not a docker flag", f.Name)
		}
	})
	t.Logf("docker service create: %d flags; minsw honours %d, refuses %d with a reason, %d belong to issues 13/14",
		len(names), honoured, refused, elsewhere)
}
