package convert

import (
	"reflect"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// serviceFields are the docker ServiceSpec fields minsw translates (paths
// from the spec's root, as docker's JSON names them). Every other field a
// request sets is refused by name, so nothing a user asked for is dropped.
var serviceFields = map[string]bool{
	"Name": true, "Labels": true,
	"TaskTemplate.ContainerSpec.Image":           true,
	"TaskTemplate.ContainerSpec.Labels":          true,
	"TaskTemplate.ContainerSpec.Command":         true,
	"TaskTemplate.ContainerSpec.Args":            true,
	"TaskTemplate.ContainerSpec.Hostname":        true,
	"TaskTemplate.ContainerSpec.Env":             true,
	"TaskTemplate.ContainerSpec.Dir":             true,
	"TaskTemplate.ContainerSpec.User":            true,
	"TaskTemplate.ContainerSpec.StopGracePeriod": true,
	"TaskTemplate.RestartPolicy":                 true,
	"TaskTemplate.Placement.Constraints":         true,
	"TaskTemplate.Networks.Target":               true,
	"TaskTemplate.Networks.Aliases":              true,
	"TaskTemplate.ForceUpdate":                   true,
	"Networks.Target":                            true,
	"Networks.Aliases":                           true,
	"Mode.Replicated":                            true,
	"Mode.Global":                                true,
	"UpdateConfig":                               true,
	"RollbackConfig":                             true,
	"TaskTemplate.ContainerSpec.Mounts":          true,
	"TaskTemplate.ContainerSpec.Secrets":         true,
	"TaskTemplate.ContainerSpec.Configs":         true,
	"TaskTemplate.ContainerSpec.Healthcheck":     true,
	"EndpointSpec.Ports":                         true,
}

// optionFieldSet is optionFields (options.go) as a set.
var optionFieldSet = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range optionFields {
		m[f] = true
	}
	return m
}()

// serviceDefaults are values docker's clients send for fields minsw has no
// knob for but whose meaning is what minsw does anyway.
var serviceDefaults = map[string]any{
	"EndpointSpec.Mode":                    swarm.ResolutionModeVIP,
	"UpdateConfig.FailureAction":           swarm.UpdateFailureActionPause,
	"UpdateConfig.Order":                   swarm.UpdateOrderStopFirst,
	"RollbackConfig.Parallelism":           uint64(1),
	"RollbackConfig.FailureAction":         swarm.UpdateFailureActionPause,
	"RollbackConfig.Order":                 swarm.UpdateOrderStopFirst,
	"TaskTemplate.ContainerSpec.Isolation": "default",
}

// checkSupported refuses a spec that sets a field minsw does not do.
func checkSupported(s swarm.ServiceSpec) error {
	if path := firstSet(reflect.ValueOf(s), ""); path != "" {
		return unsupported(path, "this service option")
	}
	return nil
}

// firstSet is the path of the first field under v that holds a value and is
// neither translated nor an accepted default; "" when there is none.
func firstSet(v reflect.Value, path string) string {
	if serviceFields[path] || optionFieldSet[path] {
		return ""
	}
	if d, ok := serviceDefaults[path]; ok && v.IsValid() {
		if v.Kind() == reflect.String && v.String() == reflect.ValueOf(d).String() {
			return ""
		}
		if v.CanInterface() && reflect.DeepEqual(v.Interface(), d) {
			return ""
		}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ""
		}
		return firstSet(v.Elem(), path)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			p := f.Name
			if f.Anonymous {
				p = ""
			}
			if p2 := firstSet(v.Field(i), join(path, p)); p2 != "" {
				return p2
			}
		}
		return ""
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if p := firstSet(v.Index(i), path); p != "" {
				return p
			}
		}
		return ""
	case reflect.Map:
		if v.Len() > 0 {
			return path
		}
		return ""
	default:
		if v.IsZero() {
			return ""
		}
		return path
	}
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return strings.Join([]string{a, b}, ".")
}
