package agent

import (
	"strings"
	"testing"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

func TestLogAttrs(t *testing.T) {
	task := func(opts map[string]string) *api.Task {
		return &api.Task{Spec: &api.TaskSpec{
			Container: &api.ContainerSpec{
				Labels: map[string]string{"tier": "front", "team": "web", "other": "x"},
				Env:    []string{"STAGE=prod", "REGION=eu", "EMPTY=", "NOEQ"},
			},
			LogDriver: &api.LogDriver{Name: "json-file", Options: opts},
		}}
	}
	for _, tc := range []struct {
		name string
		opts map[string]string
		want string
	}{
		{"no log options: no attributes", nil, ""},
		{"labels named", map[string]string{"labels": "tier,missing"}, "tier=front"},
		{"env named", map[string]string{"env": "STAGE,EMPTY"}, "EMPTY=,STAGE=prod"},
		{"regexes", map[string]string{"labels-regex": "^t", "env-regex": "^REG"}, "REGION=eu,team=web,tier=front"},
		{"a bad regex names nothing", map[string]string{"labels-regex": "("}, ""},
		{"max-size alone: none", map[string]string{"max-size": "10m"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, a := range LogAttrs(task(tc.opts)) {
				got = append(got, a.GetKey()+"="+a.GetValue())
			}
			if s := strings.Join(got, ","); s != tc.want {
				t.Fatalf("attrs %q, want %q", s, tc.want)
			}
		})
	}
}
