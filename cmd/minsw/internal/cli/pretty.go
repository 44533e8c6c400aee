package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// EnumWord is the last word(s) of an enum value, capitalised: NODE_STATE_READY -> "Ready".
func EnumWord(s, prefix string) string {
	return format.Title(strings.ToLower(strings.TrimPrefix(s, prefix)))
}

// SortedKeys are m's keys in order.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TabAlign pads each "Label:\tvalue" line with tabs (8 columns each) so
// values start at column col, as docker's --pretty templates are written;
// a tabwriter would split its columns at every line without a value.
func TabAlign(text string, col int) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		label, value, ok := strings.Cut(l, "\t")
		if !ok {
			continue
		}
		tabs := max(1, (col-len(label)+7)/8)
		lines[i] = label + strings.Repeat("\t", tabs) + value
	}
	return strings.Join(lines, "\n")
}

// LocalNodeID is this daemon's node ID, "" if it cannot tell.
func LocalNodeID(ctx context.Context, cl *client.Client) string {
	info, err := cl.Swarm.Info(ctx, &minswv1.InfoRequest{})
	if err != nil {
		return ""
	}
	return info.GetNodeId()
}

// LabelString shows labels as docker's tables do: k=v,k2=v2, sorted.
func LabelString(m map[string]string) string {
	var parts []string
	for _, k := range SortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// AsTime is t, or the zero time when t is unset.
func AsTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}
