package node

import (
	"fmt"
	"io"
	"sort"

	"github.com/minsw/minsw/internal/containeropts"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// printNodeEngine is the tail of node inspect --pretty, as docker's:
// resources, engine version, engine labels.
func printNodeEngine(w io.Writer, n *minswv1.Node) {
	d := n.GetDescription()
	if r := d.GetResources(); r != nil {
		fmt.Fprintln(w, "Resources:")
		fmt.Fprintf(w, " CPUs:\t%s\n", containeropts.FormatNanoCPUs(r.GetNanoCpus()))
		fmt.Fprintf(w, " Memory:\t%s\n", containeropts.FormatBytes(r.GetMemoryBytes()))
		for _, g := range r.GetGeneric() {
			fmt.Fprintf(w, " %s:\t%d\n", g.GetKind(), g.GetValue())
		}
	}
	fmt.Fprintf(w, "Engine Version:\t%s\n", d.GetEngineVersion())
	if len(d.GetEngineLabels()) > 0 {
		fmt.Fprintln(w, "Engine Labels:")
		keys := make([]string, 0, len(d.GetEngineLabels()))
		for k := range d.GetEngineLabels() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, " - %s=%s\n", k, d.GetEngineLabels()[k])
		}
	}
}
