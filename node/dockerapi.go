package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/engineapi"
	"github.com/minsw/minsw/internal/registryresolve"
)

// serveEngineAPI serves the Docker Engine API on cfg.DockerSocket until ctx
// ends. Its handlers call this daemon's own local API over its socket, so
// both doors share one edge (forwarding to the manager, errors, auth).
func (n *Node) serveEngineAPI(ctx context.Context) (stopped <-chan struct{}, err error) {
	done := make(chan struct{})
	if n.cfg.DockerSocket == "" {
		close(done)
		return done, nil
	}
	cl, err := client.New("unix://" + n.SocketPath())
	if err != nil {
		return nil, err
	}
	l, err := engineapi.ListenUnix(n.cfg.DockerSocket)
	if err != nil {
		cl.Close()
		return nil, err
	}
	ls := []net.Listener{l}
	if n.cfg.DockerTCP != "" {
		// TCP only with TLS client certificates: the socket's 0660 is the
		// only other gate.
		if n.cfg.DockerTLS == nil || n.cfg.DockerTLS.ClientAuth != tls.RequireAndVerifyClientCert {
			l.Close()
			cl.Close()
			return nil, fmt.Errorf("node: the Engine API listens on TCP only with TLS client certificates")
		}
		tl, err := tls.Listen("tcp", n.cfg.DockerTCP, n.cfg.DockerTLS)
		if err != nil {
			l.Close()
			cl.Close()
			return nil, fmt.Errorf("node: engine API on %s: %w", n.cfg.DockerTCP, err)
		}
		ls = append(ls, tl)
		n.log.Info("docker engine API on TCP with TLS client certificates", "addr", tl.Addr().String())
	}
	images, err := registryresolve.New(registryresolve.Config{Mirror: n.cfg.RegistryMirror, Insecure: n.cfg.InsecureRegistries})
	if err != nil {
		for _, l := range ls {
			l.Close()
		}
		cl.Close()
		return nil, fmt.Errorf("node: engine API: %w", err)
	}
	srv := engineapi.New(engineapi.Config{
		Backend:       engineapi.Backend{Control: cl.Control, Swarm: cl.Swarm, Containers: cl.Containers, Networks: cl.Networks, Volumes: cl.Volumes},
		EngineVersion: Version,
		Hostname:      n.cfg.Hostname,
		ExecRoot:      n.cfg.ExecRoot,
		Images:        images,
		Logger:        n.cfg.Logger,
	})
	n.log.Info("docker engine API ready", "socket", n.cfg.DockerSocket, "DOCKER_HOST", "unix://"+n.cfg.DockerSocket)
	go func() {
		defer close(done)
		defer cl.Close()
		if err := srv.Serve(ctx, ls...); err != nil {
			n.log.Error("docker engine API stopped", "err", err)
		}
	}()
	return done, nil
}
