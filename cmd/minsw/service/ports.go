package service

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// applyPublishChanges carries out --publish-rm then --publish-add on spec:
// an added port replaces one published on the same port and protocol.
func applyPublishChanges(spec *minswv1.ServiceSpec, add, rm []string) error {
	if len(add) == 0 && len(rm) == 0 {
		return nil
	}
	if spec.Endpoint == nil {
		spec.Endpoint = &minswv1.EndpointSpec{}
	}
	for _, r := range rm {
		ports, proto, _ := strings.Cut(r, "/")
		want := minswv1.PortProtocol_PORT_PROTOCOL_TCP
		switch proto {
		case "", "tcp":
		case "udp":
			want = minswv1.PortProtocol_PORT_PROTOCOL_UDP
		default:
			return fmt.Errorf("invalid --publish-rm %q: unknown protocol %q", r, proto)
		}
		pub, target, hasPub := strings.Cut(ports, ":")
		if !hasPub {
			target, pub = pub, ""
		}
		t, err := strconv.ParseUint(target, 10, 16)
		if err != nil || t == 0 {
			return fmt.Errorf("invalid --publish-rm %q: want TARGET[/PROTOCOL] or PUBLISHED:TARGET[/PROTOCOL]", r)
		}
		before := len(spec.Endpoint.Ports)
		spec.Endpoint.Ports = slices.DeleteFunc(spec.Endpoint.Ports, func(p *minswv1.PortConfig) bool {
			return p.GetTargetPort() == uint32(t) && p.GetProtocol() == want &&
				(pub == "" || fmt.Sprint(p.GetPublishedPort()) == pub)
		})
		if len(spec.Endpoint.Ports) == before {
			return fmt.Errorf("--publish-rm %q: the service publishes no such port", r)
		}
	}
	for _, a := range add {
		p, err := parsePort(a)
		if err != nil {
			return err
		}
		spec.Endpoint.Ports = slices.DeleteFunc(spec.Endpoint.Ports, func(o *minswv1.PortConfig) bool {
			return p.GetPublishedPort() != 0 && o.GetPublishedPort() == p.GetPublishedPort() && o.GetProtocol() == p.GetProtocol()
		})
		spec.Endpoint.Ports = append(spec.Endpoint.Ports, p)
	}
	return nil
}

// parsePort reads -p in docker's short (8080:80[/udp]) or long
// (published=8080,target=80,protocol=udp,mode=host) syntax.
func parsePort(s string) (*minswv1.PortConfig, error) {
	bad := fmt.Errorf("invalid port %q: use published:target[/protocol] or published=P,target=T[,protocol=tcp|udp][,mode=ingress|host]", s)
	parse := parseShortPort
	if strings.Contains(s, "=") {
		parse = parseLongPort
	}
	p, err := parse(s, bad)
	if err != nil {
		return nil, err
	}
	if p.TargetPort == 0 {
		return nil, bad
	}
	return p, nil
}

// portNumber is a port of -p: 1 to 65535.
func portNumber(v string, bad error) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return 0, bad
	}
	return uint32(n), nil
}

// parseLongPort reads published=P,target=T[,protocol=...][,mode=...].
func parseLongPort(s string, bad error) (*minswv1.PortConfig, error) {
	p := &minswv1.PortConfig{}
	for _, kv := range strings.Split(s, ",") {
		var err error
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "published":
			p.PublishedPort, err = portNumber(v, bad)
		case "target":
			p.TargetPort, err = portNumber(v, bad)
		case "protocol":
			if v == "udp" {
				p.Protocol = minswv1.PortProtocol_PORT_PROTOCOL_UDP
			} else if v != "tcp" {
				err = bad
			}
		case "mode":
			if v == "host" {
				p.PublishMode = minswv1.PublishMode_PUBLISH_MODE_HOST
			} else if v != "ingress" {
				err = bad
			}
		default:
			err = bad
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// parseShortPort reads [published:]target[/protocol].
func parseShortPort(s string, bad error) (*minswv1.PortConfig, error) {
	p := &minswv1.PortConfig{}
	ports, proto, _ := strings.Cut(s, "/")
	switch proto {
	case "", "tcp":
	case "udp":
		p.Protocol = minswv1.PortProtocol_PORT_PROTOCOL_UDP
	default:
		return nil, bad
	}
	pub, target, ok := strings.Cut(ports, ":")
	if !ok {
		target, pub = pub, ""
	}
	var err error
	if p.TargetPort, err = portNumber(target, bad); err != nil {
		return nil, err
	}
	if pub != "" {
		if p.PublishedPort, err = portNumber(pub, bad); err != nil {
			return nil, err
		}
	}
	return p, nil
}
