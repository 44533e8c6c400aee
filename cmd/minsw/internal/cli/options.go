package cli

import "strings"

// ParseKV turns ["k=v", "k2"] into a map, as docker's --label and --opt do.
func ParseKV(list []string) map[string]string {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]string, len(list))
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
