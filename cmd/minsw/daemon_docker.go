package main

import (
	"path/filepath"

	"github.com/spf13/cobra"
)

// dockerSocketFlag is `minsw daemon --docker-socket`: where the Docker
// Engine API listens. Unset: <exec-root>/docker.sock; set empty: off.
const dockerSocketFlag = "docker-socket"

func addDockerSocketFlag(cmd *cobra.Command, o *daemonOptions) {
	cmd.Flags().StringVar(&o.dockerSocket, dockerSocketFlag, "",
		"Unix socket of the Docker Engine API, for the docker CLI and SDKs (default <exec-root>/docker.sock; \"\" switches it off)")
}

// dockerSocketPath resolves the flag against the exec root.
func dockerSocketPath(cmd *cobra.Command, o *daemonOptions) string {
	if cmd.Flags().Changed(dockerSocketFlag) {
		return o.dockerSocket
	}
	return filepath.Join(o.execRoot, "docker.sock")
}
