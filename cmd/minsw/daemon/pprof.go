package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
)

// pprofOptions is --pprof: Go's runtime profiles of a running daemon
// (heap, goroutines, CPU), served on a unix socket of their own in the exec
// root, as dockerd serves /debug/pprof on its socket in debug mode. Off by
// default; the socket is the owner's only (0600), as the API socket's
// data is.
//
//	curl -s --unix-socket /var/run/minsw/pprof.sock http://minsw/debug/pprof/heap > heap.pprof
//	go tool pprof -top heap.pprof
type pprofOptions struct{ on bool }

func (p *pprofOptions) register(f *pflag.FlagSet) {
	f.BoolVar(&p.on, "pprof", false, "Serve Go's runtime profiles (/debug/pprof/) on <exec-root>/pprof.sock")
}

// pprofSocket is where --pprof serves.
func pprofSocket(execRoot string) string { return filepath.Join(execRoot, "pprof.sock") }

// serve listens on the socket until the returned stop is called (after
// the node has stopped: a slow shutdown can be profiled too); off, it does
// nothing.
func (p *pprofOptions) serve(execRoot string, log *slog.Logger) (stop func(), err error) {
	if !p.on {
		return func() {}, nil
	}
	path := pprofSocket(execRoot)
	if err := os.MkdirAll(execRoot, 0o755); err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof socket stopped", "err", err)
		}
	}()
	log.Info("serving runtime profiles", "socket", path)
	return func() {
		_ = srv.Close()
		_ = os.Remove(path)
	}, nil
}
