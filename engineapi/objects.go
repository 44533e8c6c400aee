package engineapi

import (
	"net/http"
	"strings"

	"github.com/minsw/minsw/internal/errdefs"
)

// minsw keeps no images or plugins behind the Engine API (images live in
// each node's containerd and are pulled by the tasks that need them).
// Inspecting one answers docker's 404, not the catch-all 501: `docker
// inspect NAME` tries a container, an image, a network, a volume, then the
// swarm objects, and goes on to the next kind only on a "not found".

func (s *Server) imageInspect(w http.ResponseWriter, r *http.Request) error {
	name, ok := strings.CutSuffix(r.PathValue("name"), "/json")
	if !ok || name == "" {
		return s.notImplemented(w, r)
	}
	return errdefs.NotFound("No such image: %s (minsw serves no images through the Engine API: each node pulls what its tasks need)", name)
}

func (s *Server) pluginInspect(w http.ResponseWriter, r *http.Request) error {
	name, ok := strings.CutSuffix(r.PathValue("name"), "/json")
	if !ok || name == "" {
		return s.notImplemented(w, r)
	}
	return errdefs.NotFound("plugin %q not found (minsw has no plugins)", name)
}
