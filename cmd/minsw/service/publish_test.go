package service

import (
	"fmt"
	"strings"
	"testing"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestPublishAddAndRemove(t *testing.T) {
	cases := []struct {
		name    string
		ports   []string
		add, rm []string
		want    string
		wantErr string
	}{
		{name: "add to a service with none", add: []string{"8080:80"}, want: "8080:80/PORT_PROTOCOL_TCP"},
		{name: "add replaces the same published port", ports: []string{"8080:80"}, add: []string{"8080:81"}, want: "8080:81/PORT_PROTOCOL_TCP"},
		{name: "udp on the same number is another port", ports: []string{"8080:80"}, add: []string{"8080:53/udp"}, want: "8080:80/PORT_PROTOCOL_TCP 8080:53/PORT_PROTOCOL_UDP"},
		{name: "remove by target", ports: []string{"8080:80", "9090:90"}, rm: []string{"80"}, want: "9090:90/PORT_PROTOCOL_TCP"},
		{name: "remove by published and target", ports: []string{"8080:80", "8081:80"}, rm: []string{"8081:80"}, want: "8080:80/PORT_PROTOCOL_TCP"},
		{name: "remove the udp one only", ports: []string{"53:53", "53:53/udp"}, rm: []string{"53/udp"}, want: "53:53/PORT_PROTOCOL_TCP"},
		{name: "remove then add", ports: []string{"8080:80"}, rm: []string{"80"}, add: []string{"8443:443"}, want: "8443:443/PORT_PROTOCOL_TCP"},
		{name: "removing a port not published says so", ports: []string{"8080:80"}, rm: []string{"81"}, wantErr: "publishes no such port"},
		{name: "bad rm", rm: []string{"x"}, wantErr: "invalid --publish-rm"},
		{name: "bad add", add: []string{"8080:0"}, wantErr: "invalid port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := &minswv1.ServiceSpec{Endpoint: &minswv1.EndpointSpec{}}
			for _, p := range c.ports {
				pc, err := parsePort(p)
				if err != nil {
					t.Fatal(err)
				}
				spec.Endpoint.Ports = append(spec.Endpoint.Ports, pc)
			}
			err := applyPublishChanges(spec, c.add, c.rm)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %v, want error with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range spec.Endpoint.Ports {
				got = append(got, fmt.Sprintf("%d:%d/%v", p.PublishedPort, p.TargetPort, p.Protocol))
			}
			if strings.Join(got, " ") != c.want {
				t.Fatalf("got %v, want %s", got, c.want)
			}
		})
	}
}
