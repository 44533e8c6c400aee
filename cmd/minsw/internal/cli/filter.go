package cli

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// ListFilter is a list command's --filter flag (docker's keys; the manager
// applies them, so the Engine API's filters behave the same).
type ListFilter struct{ args []string }

func (f *ListFilter) Add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.args, "filter", "f", nil, "Filter output based on conditions provided")
}

// Request turns the --filter key=value arguments into the request's
// filters: one per key, its values in the order given.
func (f *ListFilter) Request() ([]*minswv1.ListFilter, error) {
	var out []*minswv1.ListFilter
	idx := map[string]int{}
	for _, a := range f.args {
		k, v, ok := strings.Cut(a, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return nil, errors.New("bad format of filter (expected name=value)")
		}
		if i, seen := idx[k]; seen {
			out[i].Values = append(out[i].Values, v)
			continue
		}
		idx[k] = len(out)
		out = append(out, &minswv1.ListFilter{Key: k, Values: []string{v}})
	}
	return out, nil
}
