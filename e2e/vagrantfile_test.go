package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestVagrantfileParses: CI cannot boot the VMs, so it checks that the
// Vagrantfile is valid Ruby (ruby -c; scripts/deps.sh installs ruby) and
// that the provisioning script it runs is valid shell. The script's steps
// themselves run in TestSeed, in the netns lab.
func TestVagrantfileParses(t *testing.T) {
	ruby, err := exec.LookPath("ruby")
	if err != nil {
		t.Fatal("ruby is not installed (scripts/deps.sh installs it): cannot check the Vagrantfile")
	}
	out, err := exec.Command(ruby, "-c", "../Vagrantfile").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Syntax OK") {
		t.Errorf("ruby -c Vagrantfile: %v\n%s", err, out)
	}
	out, err = exec.Command("bash", "-n", "lab/provision.sh").CombinedOutput()
	if err != nil {
		t.Errorf("bash -n provision.sh: %v\n%s", err, out)
	}
	// Every step the Vagrantfile names exists in provision.sh.
	vf, err := os.ReadFile("../Vagrantfile")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := os.ReadFile("lab/provision.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"packages", "install-minsw", "start-daemon", "init", "join"} {
		if !strings.Contains(string(vf), step) {
			t.Errorf("the Vagrantfile does not run provision.sh %s", step)
		}
		if !strings.Contains(string(ps), "\n"+step+")") {
			t.Errorf("provision.sh has no step %s", step)
		}
	}
}
