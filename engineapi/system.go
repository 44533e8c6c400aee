package engineapi

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/api/types/system"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/registryresolve"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// swarmHeader is the _ping "Swarm" header: state, and /manager or /worker
// when the node is active.
func swarmHeader(info *api.InfoResponse) string {
	st := string(convert.LocalNodeState(info))
	if st != "active" {
		return st
	}
	if info.GetControlAvailable() {
		return st + "/manager"
	}
	return st + "/worker"
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	if info, err := s.b.Swarm.Info(r.Context(), &api.InfoRequest{}); err == nil {
		h.Set("Swarm", swarmHeader(info))
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte("OK"))
	}
	return nil
}

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	v := types.Version{
		Version:       s.cfg.EngineVersion,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		GoVersion:     runtime.Version(),
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		KernelVersion: kernelVersion(),
	}
	v.Platform.Name = "minsw"
	v.Components = []types.ComponentVersion{{Name: "Engine", Version: s.cfg.EngineVersion, Details: map[string]string{
		"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "GoVersion": v.GoVersion, "Os": v.Os, "Arch": v.Arch, "KernelVersion": v.KernelVersion,
		"Experimental": "false",
	}}}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	info, err := s.b.Swarm.Info(ctx, &api.InfoRequest{})
	if err != nil {
		return err
	}
	var cluster *api.Cluster
	if info.GetControlAvailable() {
		if c, err := s.b.Control.GetCluster(ctx, &api.GetClusterRequest{}); err == nil {
			cluster = c.GetCluster()
		}
	}
	out := system.Info{
		ID:                 info.GetNodeId(),
		Name:               s.cfg.Hostname,
		ServerVersion:      s.cfg.EngineVersion,
		OperatingSystem:    "minsw",
		OSType:             runtime.GOOS,
		Architecture:       runtime.GOARCH,
		KernelVersion:      kernelVersion(),
		NCPU:               runtime.NumCPU(),
		MemTotal:           memTotal(),
		Driver:             "overlayfs",
		LoggingDriver:      "local",
		CgroupDriver:       "systemd",
		CgroupVersion:      "2",
		DockerRootDir:      s.cfg.ExecRoot,
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     &registry.ServiceConfig{IndexConfigs: map[string]*registry.IndexInfo{}},
		Plugins:            system.PluginsInfo{Network: []string{"overlay"}, Volume: []string{"local"}},
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		Swarm:              convert.Info(info, cluster),
		DefaultRuntime:     "runc",
		Runtimes:           map[string]system.RuntimeWithStatus{"runc": {Runtime: system.Runtime{Path: "runc"}}},
		SecurityOptions:    []string{},
		Warnings:           []string{},
	}
	// Each manager's node ID beside its address, as docker's RemoteManagers.
	if info.GetControlAvailable() && len(out.Swarm.RemoteManagers) > 0 {
		if ns, err := s.b.Control.ListNodes(ctx, &api.ListNodesRequest{}); err == nil {
			byAddr := map[string]string{}
			for _, n := range ns.GetNodes() {
				if a := n.GetManagerStatus().GetAddr(); a != "" {
					byAddr[a] = n.GetId()
				}
			}
			for i, m := range out.Swarm.RemoteManagers {
				out.Swarm.RemoteManagers[i].NodeID = byAddr[m.Addr]
			}
		}
	}
	if cs, err := s.b.Containers.ListContainers(ctx, &api.ListContainersRequest{All: true}); err == nil {
		for _, c := range cs.GetContainers() {
			out.Containers++
			switch c.GetState() {
			case "running":
				out.ContainersRunning++
			case "paused":
				out.ContainersPaused++
			default:
				out.ContainersStopped++
			}
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// callTimeout bounds a unary call a handler makes on behalf of a client
// that may never hang up.
const callTimeout = 60 * time.Second

func callCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), callTimeout)
}

// distributionInspect answers docker's image lookup (the digest its tag
// names, its platforms) from the image's registry, Docker Hub names from
// the node's mirror, so `docker service create` pins the image as with
// dockerd. A node without a way to look images up says so: the docker CLI
// then prints its usual warning and goes on.
func (s *Server) distributionInspect(w http.ResponseWriter, r *http.Request) error {
	image, ok := strings.CutSuffix(r.PathValue("name"), "/json")
	if !ok || image == "" {
		return errdefs.NotFound("no such endpoint: %s", r.URL.Path)
	}
	if s.cfg.Images == nil {
		return errdefs.Unimplemented("this minsw node looks no images up in registries: each node pulls %s itself", image)
	}
	// --with-registry-auth: the CLI sends the user's login for the image's
	// registry, which the lookup shows to that registry only.
	creds, err := registryresolve.ParseAuth(r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	desc, platforms, err := s.cfg.Images.Resolve(r.Context(), image, creds)
	if err != nil {
		return err
	}
	// docker's CLI makes the platforms the service's placement platforms,
	// which the scheduler honours: tasks go only to nodes of the image's
	// OS and architecture.
	if platforms == nil {
		platforms = []ocispec.Platform{}
	}
	return writeJSON(w, http.StatusOK, registry.DistributionInspect{Descriptor: desc, Platforms: platforms})
}
