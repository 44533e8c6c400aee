package daemon

import (
	"crypto/tls"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/engineapi"
)

// dockerSocketFlag is `minsw daemon --docker-socket`: where the Docker
// Engine API listens. Unset: <exec-root>/docker.sock; set empty: off.
const dockerSocketFlag = "docker-socket"

func addDockerSocketFlag(cmd *cobra.Command, o *daemonOptions) {
	f := cmd.Flags()
	f.StringVar(&o.dockerSocket, dockerSocketFlag, "",
		"Unix socket of the Docker Engine API, for the docker CLI and SDKs (default <exec-root>/docker.sock; \"\" switches it off)")
	f.StringVar(&o.docker.tcp, "docker-tcp", "", "Also serve the Docker Engine API on this TCP address (HOST:PORT), TLS with client certificates only")
	f.StringVar(&o.docker.ca, "docker-tlscacert", "", "CA that signs the Engine API's TCP clients' certificates")
	f.StringVar(&o.docker.cert, "docker-tlscert", "", "The Engine API's TLS certificate (PEM)")
	f.StringVar(&o.docker.key, "docker-tlskey", "", "The Engine API's TLS key (PEM)")
}

// dockerTCPOptions are the Engine API's TCP flags.
type dockerTCPOptions struct{ tcp, ca, cert, key string }

// dockerTCP checks the TCP flags: all of them or none.
func dockerTCP(o *daemonOptions) (string, *tls.Config, error) {
	d := o.docker
	if d.tcp == "" {
		if d.ca != "" || d.cert != "" || d.key != "" {
			return "", nil, fmt.Errorf("--docker-tlscacert, --docker-tlscert and --docker-tlskey go with --docker-tcp")
		}
		return "", nil, nil
	}
	if d.ca == "" || d.cert == "" || d.key == "" {
		return "", nil, fmt.Errorf("--docker-tcp needs --docker-tlscacert, --docker-tlscert and --docker-tlskey: the Engine API is served on TCP only to clients with a certificate")
	}
	cfg, err := engineapi.ServerTLS(d.ca, d.cert, d.key)
	if err != nil {
		return "", nil, err
	}
	return d.tcp, cfg, nil
}

// dockerSocketPath resolves the flag against the exec root.
func dockerSocketPath(cmd *cobra.Command, o *daemonOptions) string {
	if cmd.Flags().Changed(dockerSocketFlag) {
		return o.dockerSocket
	}
	return filepath.Join(o.execRoot, "docker.sock")
}
