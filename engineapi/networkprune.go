package engineapi

import (
	"net/http"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	timetypes "github.com/docker/docker/api/types/time"

	"github.com/minsw/minsw/engineapi/convert"
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// networkPrune removes the swarm networks no service uses, as docker's
// `docker network prune` does on a swarm manager: ingress and the node's
// own networks (host, none, the gateway bridge) are kept, and so is a
// network the managers refuse to remove because something still uses it.
// A worker has no swarm networks to prune and answers an empty report.
func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) error {
	args, err := convert.ParseFilters(r.URL.Query().Get("filters"), "label", "label!", "until")
	if err != nil {
		return err
	}
	until, err := pruneUntil(args)
	if err != nil {
		return err
	}
	report := network.PruneReport{NetworksDeleted: []string{}}
	resp, err := s.b.Control.ListNetworks(r.Context(), &api.ListNetworksRequest{})
	switch {
	case errdefs.Is(err, errdefs.KindFailedPrecondition):
		return writeJSON(w, http.StatusOK, report)
	case err != nil:
		return err
	}
	for _, n := range resp.GetNetworks() {
		nw := convert.Network(n)
		if nw.Ingress || !pruneMatches(args, until, nw.Created, nw.Labels) {
			continue
		}
		if _, err := s.b.Control.RemoveNetwork(r.Context(), &api.RemoveNetworkRequest{Ref: n.GetId()}); err != nil {
			if !errdefs.Is(err, errdefs.KindFailedPrecondition) && !errdefs.Is(err, errdefs.KindNotFound) {
				s.log.Warn("network prune: could not remove a network", "network", nw.Name, "err", err)
			}
			continue
		}
		report.NetworksDeleted = append(report.NetworksDeleted, nw.Name)
	}
	return writeJSON(w, http.StatusOK, report)
}

// pruneUntil reads a prune's `until` filter (a time or a duration back
// from now, as docker's); the zero time when there is none.
func pruneUntil(args filters.Args) (time.Time, error) {
	vals := args.Get("until")
	if len(vals) == 0 {
		return time.Time{}, nil
	}
	if len(vals) > 1 {
		return time.Time{}, errdefs.InvalidArgument("invalid filter 'until': only one value is expected")
	}
	ts, err := timetypes.GetTimestamp(vals[0], time.Now())
	if err != nil {
		return time.Time{}, errdefs.InvalidArgument("invalid filter 'until=%s': %v", vals[0], err)
	}
	sec, nsec, err := timetypes.ParseTimestamps(ts, 0)
	if err != nil {
		return time.Time{}, errdefs.InvalidArgument("invalid filter 'until=%s': %v", vals[0], err)
	}
	return time.Unix(sec, nsec), nil
}

// pruneMatches says whether an object created at created with labels
// passes a prune's filters: made before until, holding every label= and
// none of the label!= ones.
func pruneMatches(args filters.Args, until, created time.Time, labels map[string]string) bool {
	if !until.IsZero() && !created.Before(until) {
		return false
	}
	if !args.MatchKVList("label", labels) {
		return false
	}
	if args.Contains("label!") && args.MatchKVList("label!", labels) {
		return false
	}
	return true
}
