package container

import (
	"fmt"
	"strings"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/internal/swarmlabels"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// containerFilterKeys are docker's `container ls --filter` keys minsw
// knows (the list is this node's, so the filter runs here).
var containerFilterKeys = map[string]bool{"id": true, "name": true, "label": true, "status": true, "ancestor": true}

// filterContainers keeps the containers that pass every key given (any
// value of a key); an unknown key is refused as docker refuses it.
func filterContainers(cs []*minswv1.Container, f *cli.ListFilter) ([]*minswv1.Container, error) {
	fs, err := f.Request()
	if err != nil || len(fs) == 0 {
		return cs, err
	}
	for _, x := range fs {
		if !containerFilterKeys[x.GetKey()] {
			return nil, fmt.Errorf("invalid filter '%s'", x.GetKey())
		}
	}
	var out []*minswv1.Container
	for _, c := range cs {
		if matchContainer(c, fs) {
			out = append(out, c)
		}
	}
	return out, nil
}

func matchContainer(c *minswv1.Container, fs []*minswv1.ListFilter) bool {
	for _, f := range fs {
		ok := false
		for _, v := range f.GetValues() {
			switch f.GetKey() {
			case "id":
				ok = v != "" && strings.HasPrefix(c.GetId(), v)
			case "name":
				// docker: a substring of the name
				ok = strings.Contains(strings.TrimPrefix(c.GetName(), "/"), strings.TrimPrefix(v, "/"))
			case "label":
				k, want, hasValue := strings.Cut(v, "=")
				got, present := swarmlabels.Container(c.GetLabels())[k]
				ok = present && (!hasValue || got == want)
			case "status":
				ok = v == c.GetState()
			case "ancestor":
				img := listImage(c.GetImage(), false) // a pinned image matches its tag
				ok = c.GetImage() == v || strings.TrimSuffix(img, ":latest") == strings.TrimSuffix(v, ":latest")
			}
			if ok {
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
