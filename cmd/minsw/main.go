// Command minsw is both the node daemon (`minsw daemon`) and the docker-like
// CLI that talks to it over its unix socket. The commands live in a package
// per noun (node, network, service, ...), put together by
// internal/commands; they are thin: parse flags, call the gRPC API through
// package client, print.
package main

import (
	"os"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/commands"
	"github.com/minsw/minsw/worker/executor/containerd"
)

func main() {
	// containerd starts the daemon's binary as the log writer of its
	// containers (it stamps each line with its time and stream).
	if containerd.IsLogWriter(os.Args[1:]) {
		os.Exit(containerd.RunLogWriter(os.Args[1:]))
	}
	os.Exit(commands.Execute(cli.New(os.Stdin, os.Stdout, os.Stderr), os.Args[1:]))
}
