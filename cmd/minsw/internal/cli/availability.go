package cli

import (
	"fmt"
	"strings"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// Availability reads a node availability as docker's flags take it
// (active, pause, drain; any case).
func Availability(s string) (minswv1.NodeAvailability, error) {
	v, ok := minswv1.NodeAvailability_value["NODE_AVAILABILITY_"+strings.ToUpper(s)]
	if !ok || s == "" {
		return 0, fmt.Errorf("invalid availability %q: must be one of active, pause, drain", s)
	}
	return minswv1.NodeAvailability(v), nil
}
