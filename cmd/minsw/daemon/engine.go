package daemon

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/minsw/minsw/node"
)

// engineOptions are the daemon's flags for what the node advertises to
// the scheduler, with dockerd's names.
type engineOptions struct {
	labels  []string
	generic []string
}

func (e *engineOptions) register(f *pflag.FlagSet) {
	f.StringArrayVar(&e.labels, "label", nil, "Set key=value labels to the daemon (engine.labels.* constraints)")
	f.StringArrayVar(&e.generic, "node-generic-resource", nil, "Advertise user-defined resource (KIND=COUNT, e.g. gpu=2)")
}

func (e *engineOptions) apply(cfg *node.Config) error {
	for _, l := range e.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("invalid --label %q: want KEY=VALUE", l)
		}
		if cfg.EngineLabels == nil {
			cfg.EngineLabels = map[string]string{}
		}
		cfg.EngineLabels[k] = v
	}
	for _, g := range e.generic {
		k, v, ok := strings.Cut(g, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || k == "" || err != nil || n <= 0 {
			return fmt.Errorf("invalid --node-generic-resource %q: want KIND=COUNT, e.g. gpu=2", g)
		}
		if cfg.GenericResources == nil {
			cfg.GenericResources = map[string]int64{}
		}
		cfg.GenericResources[k] = n
	}
	return nil
}
