package containerd

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/minsw/minsw/worker/executor"
)

// resolvConf is the container's /etc/resolv.conf. With no DNS settings in
// the spec it is the host's, minus loopback nameservers (they would point at
// the container itself), as dockerd does.
func resolvConf(spec executor.Spec, host []byte) []byte {
	var b bytes.Buffer
	if len(spec.DNS) == 0 && len(spec.DNSSearch) == 0 && len(spec.DNSOpts) == 0 && spec.HostNetwork {
		return host // its loopback resolvers are the node's own
	}
	if len(spec.DNS) == 0 && len(spec.DNSSearch) == 0 && len(spec.DNSOpts) == 0 {
		sc := bufio.NewScanner(bytes.NewReader(host))
		for sc.Scan() {
			line := sc.Text()
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "nameserver" {
				if ip := net.ParseIP(f[1]); ip != nil && ip.IsLoopback() {
					continue
				}
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
		return b.Bytes()
	}
	for _, ns := range spec.DNS {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(spec.DNSSearch) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(spec.DNSSearch, " "))
	}
	if len(spec.DNSOpts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(spec.DNSOpts, " "))
	}
	return b.Bytes()
}

// hostsFile is the container's /etc/hosts: localhost, the spec's extra lines,
// and the container's own hostname and name unless an extra line already
// names the hostname (the agent passes "IP hostname name" when it knows the
// task's address).
func hostsFile(spec executor.Spec, hostname string) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("ff00::0\tip6-mcastprefix\n")
	b.WriteString("ff02::1\tip6-allnodes\n")
	b.WriteString("ff02::2\tip6-allrouters\n")
	named := false
	for _, l := range spec.Hosts {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		for _, n := range f[1:] {
			if n == hostname {
				named = true
			}
		}
		b.WriteString(strings.Join(f, "\t"))
		b.WriteByte('\n')
	}
	if !named {
		names := hostname
		if spec.Name != "" && spec.Name != hostname {
			names += " " + spec.Name
		}
		fmt.Fprintf(&b, "127.0.1.1\t%s\n", names)
	}
	return b.Bytes()
}

// containerFiles are the generated files of one container in its state dir.
type containerFiles struct{ dir string }

func (f containerFiles) resolvConf() string { return filepath.Join(f.dir, "resolv.conf") }
func (f containerFiles) hosts() string      { return filepath.Join(f.dir, "hosts") }
func (f containerFiles) hostname() string   { return filepath.Join(f.dir, "hostname") }
func (f containerFiles) log() string        { return filepath.Join(f.dir, "container.log") }

func (f containerFiles) write(spec executor.Spec, hostname string) error {
	if err := os.MkdirAll(f.dir, 0o711); err != nil {
		return err
	}
	host, _ := os.ReadFile("/etc/resolv.conf")
	for path, data := range map[string][]byte{
		f.resolvConf(): resolvConf(spec, host),
		f.hosts():      hostsFile(spec, hostname),
		f.hostname():   []byte(hostname + "\n"),
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
