package netagent

import (
	"slices"
	"testing"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

func TestTaskResolvers(t *testing.T) {
	for _, tc := range []struct {
		name string
		ns   []string
		want []string
	}{
		{"no --dns: none of its own", nil, nil},
		{"--dns servers in the user's order on port 53", []string{"10.0.9.53", "192.0.2.1"}, []string{"10.0.9.53:53", "192.0.2.1:53"}},
		{"IPv6 servers too", []string{"2001:db8::53"}, []string{"[2001:db8::53]:53"}},
		{"an address that does not parse is skipped", []string{"dns.example", "10.0.9.53"}, []string{"10.0.9.53:53"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := &api.Task{Spec: &api.TaskSpec{Container: &api.ContainerSpec{DnsConfig: &api.DNSConfig{Nameservers: tc.ns}}}}
			var got []string
			for _, ap := range taskResolvers(task) {
				got = append(got, ap.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
