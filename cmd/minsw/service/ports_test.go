package service

import (
	"testing"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestParsePort(t *testing.T) {
	udp, host := minswv1.PortProtocol_PORT_PROTOCOL_UDP, minswv1.PublishMode_PUBLISH_MODE_HOST
	for _, tc := range []struct {
		name, in string
		want     *minswv1.PortConfig // nil: refused
	}{
		{"short with published port", "8080:80", &minswv1.PortConfig{PublishedPort: 8080, TargetPort: 80}},
		{"short target only", "80", &minswv1.PortConfig{TargetPort: 80}},
		{"short udp", "53:53/udp", &minswv1.PortConfig{PublishedPort: 53, TargetPort: 53, Protocol: udp}},
		{"long, every key", "published=8080,target=80,protocol=udp,mode=host", &minswv1.PortConfig{PublishedPort: 8080, TargetPort: 80, Protocol: udp, PublishMode: host}},
		{"long target only", "target=80", &minswv1.PortConfig{TargetPort: 80}},
		{"long without target", "published=8080", nil},
		{"long unknown key", "published=8080,target=80,foo=1", nil},
		{"long bad mode", "target=80,mode=bridge", nil},
		{"short unknown protocol", "8080:80/sctp", nil},
		{"port zero", "8080:0", nil},
		{"port too big", "70000:80", nil},
		{"not a number", "web:80", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePort(tc.in)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("parsePort(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.PublishedPort != tc.want.PublishedPort || got.TargetPort != tc.want.TargetPort ||
				got.Protocol != tc.want.Protocol || got.PublishMode != tc.want.PublishMode {
				t.Fatalf("parsePort(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
