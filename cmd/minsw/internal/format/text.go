package format

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// IDLength is how many characters of an ID the tables show.
const IDLength = 12

// TruncateID shortens an ID to IDLength characters.
func TruncateID(id string) string {
	if len(id) > IDLength {
		return id[:IDLength]
	}
	return id
}

// Ellipsis cuts s to at most n runes, ending in "…" when cut.
func Ellipsis(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return string([]rune(s)[:n])
	}
	return string([]rune(s)[:n-1]) + "…"
}

// Command renders a container's command line as docker's COMMAND column:
// quoted, at most 20 characters inside the quotes.
func Command(args []string, trunc bool) string {
	cmd := strings.Join(args, " ")
	if trunc {
		cmd = Ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

// Image shows an image reference as the service tables do: a digest is
// dropped and a reference without a tag gets ":latest".
func Image(ref string) string {
	if ref == "" {
		return ""
	}
	name, _, hasDigest := strings.Cut(ref, "@")
	last := name[strings.LastIndex(name, "/")+1:]
	if !strings.Contains(last, ":") {
		if hasDigest {
			return name
		}
		name += ":latest"
	}
	return name
}

// Title capitalises the first letter: "running" -> "Running".
func Title(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}
