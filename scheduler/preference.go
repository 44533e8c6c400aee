package scheduler

import (
	"fmt"
	"strings"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// Preference is one parsed --placement-pref spread=<attribute>: tasks are
// spread evenly over the attribute's values (nodes lacking it form one more
// value) before the usual spread within a value.
type Preference struct {
	key Constraint // reuses constraint keys: node.labels.x, engine.labels.x, node.platform.os, ...
}

// Key returns the attribute as written.
func (p Preference) Key() string { return p.key.key }

// value is node n's value of the attribute ("" when it lacks it).
func (p Preference) value(n *minswv1.Node) string { return p.key.nodeValue(n) }

// ParsePreferences parses placement preferences as the API stores them.
func ParsePreferences(prefs []*minswv1.PlacementPreference) ([]Preference, error) {
	if len(prefs) == 0 {
		return nil, nil
	}
	out := make([]Preference, 0, len(prefs))
	for _, p := range prefs {
		d := strings.TrimSpace(p.GetSpreadDescriptor())
		c, err := parseConstraint(d + "==x")
		if err != nil || d == "" {
			return nil, fmt.Errorf("%w: placement preference spread=%s: unknown attribute (want one of %s)", ErrInvalidConstraint, d, knownKeys)
		}
		out = append(out, Preference{key: c})
	}
	return out, nil
}
