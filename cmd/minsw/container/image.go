package container

import "strings"

// listImage is the IMAGE column as docker's container ls shows it: a
// pinned name:tag@digest without its digest, unless --no-trunc.
func listImage(ref string, noTrunc bool) string {
	name, _, pinned := strings.Cut(ref, "@")
	if noTrunc || !pinned || !strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") {
		return ref
	}
	return name
}
