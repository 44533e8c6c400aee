package engineapi

import (
	"net/http"

	"github.com/docker/docker/api/types/container"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// containerTop answers docker top CONTAINER [ps options]: the processes of
// a task's container as ps shows them (the node reads /proc for the PIDs
// containerd lists; -ef by default).
func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.b.Containers.Top(r.Context(), &api.TopRequest{Ref: r.PathValue("id"), PsArgs: r.URL.Query().Get("ps_args")})
	if err != nil {
		return err
	}
	out := container.TopResponse{Titles: resp.GetTitles(), Processes: [][]string{}}
	for _, p := range resp.GetProcesses() {
		out.Processes = append(out.Processes, p.GetColumns())
	}
	return writeJSON(w, http.StatusOK, out)
}
