package scheduler

import (
	"errors"
	"strings"
	"testing"
)

func TestParseConstraints(t *testing.T) {
	tests := []struct {
		name  string
		exprs []string
		want  []string // String() of each parsed constraint
	}{
		{"no constraints", nil, nil},
		{"hostname", []string{"node.hostname==swarm-worker1"}, []string{"node.hostname==swarm-worker1"}},
		{"manager only", []string{"node.role==manager"}, []string{"node.role==manager"}},
		{"not on managers", []string{"node.role!=manager"}, []string{"node.role!=manager"}},
		{"node label", []string{"node.labels.region==east"}, []string{"node.labels.region==east"}},
		{"label with dots", []string{"node.labels.com.example.ssd==true"}, []string{"node.labels.com.example.ssd==true"}},
		{"engine label", []string{"engine.labels.storage!=hdd"}, []string{"engine.labels.storage!=hdd"}},
		{"spaces around the operator", []string{"  node.id == abc  "}, []string{"node.id==abc"}},
		{"value with spaces", []string{"node.labels.desc==rack 12"}, []string{"node.labels.desc==rack 12"}},
		{"upper-case key", []string{"NODE.Hostname==x"}, []string{"NODE.Hostname==x"}},
		{"platform", []string{"node.platform.os==linux", "node.platform.arch!=arm64"}, []string{"node.platform.os==linux", "node.platform.arch!=arm64"}},
		{"several", []string{"node.role==worker", "node.labels.zone!=a"}, []string{"node.role==worker", "node.labels.zone!=a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := ParseConstraints(tc.exprs)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cs {
				got = append(got, c.String())
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseConstraintsRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, expr, wantErr string
	}{
		{"empty", "", "empty expression"},
		{"blank", "   ", "empty expression"},
		{"single equals", "node.hostname=x", "operator must be == or !="},
		{"no operator", "node.hostname", "no operator"},
		{"unknown operator", "node.hostname~x", "no operator"},
		{"missing key", "==x", "missing key"},
		{"missing value", "node.hostname==", "missing value"},
		{"blank value", "node.hostname==  ", "missing value"},
		{"two operators", "node.hostname==a==b", "more than one operator"},
		{"mixed operators", "node.hostname==a!=b", "more than one operator"},
		{"space in key", "node. hostname==x", "contains white space"},
		{"unknown key", "node.name==x", `unknown key "node.name"`},
		{"typo in labels", "node.label.x==y", `unknown key "node.label.x"`},
		{"bad role", "node.role==boss", `node.role is manager or worker, not "boss"`},
		{"label without name", "node.labels.==x", "missing label name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConstraints([]string{"node.role==worker", tc.expr})
			if err == nil {
				t.Fatalf("%q parsed; want an error", tc.expr)
			}
			if !errors.Is(err, ErrInvalidConstraint) {
				t.Errorf("error %q does not wrap ErrInvalidConstraint", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not say %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), `"`+tc.expr+`"`) {
				t.Errorf("error %q does not quote the expression", err)
			}
		})
	}
}

func TestConstraintMatch(t *testing.T) {
	worker := node("w1", "Swarm-Worker1", label("region", "East"))
	mgr := node("m1", "swarm-manager", manager)
	tests := []struct {
		expr       string
		worker, mg bool
	}{
		{"node.hostname==swarm-worker1", true, false},
		{"node.hostname!=swarm-worker1", false, true},
		{"node.id==m1", false, true},
		{"node.role==manager", false, true},
		{"node.role==WORKER", true, false},
		{"node.labels.region==east", true, false},
		{"node.labels.region!=east", false, true},
		{"node.labels.Region==east", false, false}, // label names are case-sensitive
		{"engine.labels.x==y", false, false},
		{"engine.labels.x!=y", true, true},
		{"node.platform.os==linux", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			cs, err := ParseConstraints([]string{tc.expr})
			if err != nil {
				t.Fatal(err)
			}
			if got := cs[0].Match(worker); got != tc.worker {
				t.Errorf("worker: got %v, want %v", got, tc.worker)
			}
			if got := cs[0].Match(mgr); got != tc.mg {
				t.Errorf("manager: got %v, want %v", got, tc.mg)
			}
		})
	}
}
