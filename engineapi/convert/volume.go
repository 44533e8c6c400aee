package convert

import (
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Volume is one of this node's volumes as docker shows it: the local
// driver, local scope.
func Volume(v *api.Volume) *volume.Volume {
	out := &volume.Volume{
		Name:       v.GetName(),
		Driver:     v.GetDriver(),
		Mountpoint: v.GetMountpoint(),
		Labels:     labels(v.GetLabels()),
		Options:    labels(v.GetOptions()),
		Scope:      "local",
	}
	if v.GetCreatedAt() != nil {
		out.CreatedAt = ts(v.GetCreatedAt()).Format(time.RFC3339)
	}
	return out
}

// VolumeFilterKeys are the keys GET /volumes accepts.
var VolumeFilterKeys = []string{"dangling", "driver", "label", "name"}

// MatchVolume says whether v passes the volume filters as docker's: name
// as a pattern, driver exactly, labels, and dangling (used by no
// container).
func MatchVolume(args filters.Args, v *api.Volume) (bool, error) {
	if args.Contains("dangling") {
		dangling, err := args.GetBoolOrDefault("dangling", false)
		if err != nil {
			return false, invalid("invalid filter 'dangling=%s': want true or false", args.Get("dangling")[0])
		}
		if dangling != (len(v.GetUsers()) == 0) {
			return false, nil
		}
	}
	if args.Contains("name") && !args.Match("name", v.GetName()) {
		return false, nil
	}
	return anyExact(args, "driver", v.GetDriver()) && args.MatchKVList("label", v.GetLabels()), nil
}
