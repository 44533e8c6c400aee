package scheduler

import (
	"errors"
	"fmt"
	"strings"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// ErrInvalidConstraint is wrapped by every error ParseConstraints returns, so
// the API edge can map a bad --constraint to InvalidArgument with errors.Is.
var ErrInvalidConstraint = errors.New("invalid constraint")

// Op is a constraint's comparison.
type Op uint8

const (
	// Equal is "==": the node's value must match.
	Equal Op = iota
	// NotEqual is "!=": the node's value must differ (a missing label differs).
	NotEqual
)

func (o Op) String() string {
	if o == NotEqual {
		return "!="
	}
	return "=="
}

// attr is which node attribute a constraint reads; resolved once at parse time
// so matching a node is a switch, not string surgery on the key.
type attr uint8

const (
	attrID attr = iota
	attrHostname
	attrRole
	attrOS
	attrArch
	attrNodeLabel
	attrEngineLabel
)

const (
	nodeLabelPrefix   = "node.labels."
	engineLabelPrefix = "engine.labels."
)

// knownKeys is told to a user who wrote a key we do not know.
const knownKeys = "node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<label>, engine.labels.<label>"

// Constraint is one parsed placement constraint, such as node.role==manager.
// Build it with ParseConstraints: parsing is where the key is resolved.
type Constraint struct {
	key   string // as written, e.g. "node.labels.region"
	attr  attr
	label string // for label attributes: the label's name, case kept
	op    Op
	value string
}

// Key returns the constraint's key as the user wrote it.
func (c Constraint) Key() string { return c.key }

// Op returns the comparison.
func (c Constraint) Op() Op { return c.op }

// Value returns the value the node attribute is compared with.
func (c Constraint) Value() string { return c.value }

// String gives the constraint back in --constraint form.
func (c Constraint) String() string { return c.key + c.op.String() + c.value }

// ParseConstraints parses placement constraints as `docker service create
// --constraint` takes them: KEY==VALUE or KEY!=VALUE, all of which must hold.
// It is strict where Swarm is lax (an unknown key or role is an error, not a
// service that silently never runs), so the API can reject bad input up front;
// an empty list parses to no constraints.
func ParseConstraints(exprs []string) ([]Constraint, error) {
	if len(exprs) == 0 {
		return nil, nil
	}
	out := make([]Constraint, 0, len(exprs))
	for _, e := range exprs {
		c, err := parseConstraint(e)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseConstraint(expr string) (Constraint, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidConstraint, expr, fmt.Sprintf(format, args...))
	}
	s := strings.TrimSpace(expr)
	if s == "" {
		return Constraint{}, bad("empty expression (want KEY==VALUE or KEY!=VALUE)")
	}
	var c Constraint
	i := strings.Index(s, "==")
	j := strings.Index(s, "!=")
	switch {
	case i < 0 && j < 0:
		if strings.Contains(s, "=") {
			return Constraint{}, bad("operator must be == or !=")
		}
		return Constraint{}, bad("no operator (want KEY==VALUE or KEY!=VALUE)")
	case j < 0 || (i >= 0 && i < j):
		c.op = Equal
	default:
		c.op, i = NotEqual, j
	}
	key := strings.TrimSpace(s[:i])
	value := strings.TrimSpace(s[i+2:])
	if key == "" {
		return Constraint{}, bad("missing key before %s", c.op)
	}
	if value == "" {
		return Constraint{}, bad("missing value after %s", c.op)
	}
	if strings.Contains(value, "==") || strings.Contains(value, "!=") {
		return Constraint{}, bad("more than one operator")
	}
	if strings.ContainsAny(key, " \t\r\n") {
		return Constraint{}, bad("key %q contains white space", key)
	}
	c.key, c.value = key, value

	// The fixed part of a key is case-insensitive, as in Swarm; a label's
	// name is not, because labels are a case-sensitive map.
	lower := strings.ToLower(key)
	switch {
	case lower == "node.id":
		c.attr = attrID
	case lower == "node.hostname":
		c.attr = attrHostname
	case lower == "node.role":
		c.attr = attrRole
		if !strings.EqualFold(value, "manager") && !strings.EqualFold(value, "worker") {
			return Constraint{}, bad("node.role is manager or worker, not %q", value)
		}
	case lower == "node.platform.os":
		c.attr = attrOS
	case lower == "node.platform.arch":
		c.attr = attrArch
	case strings.HasPrefix(lower, nodeLabelPrefix):
		c.attr, c.label = attrNodeLabel, key[len(nodeLabelPrefix):]
	case strings.HasPrefix(lower, engineLabelPrefix):
		c.attr, c.label = attrEngineLabel, key[len(engineLabelPrefix):]
	default:
		return Constraint{}, bad("unknown key %q (want one of %s)", key, knownKeys)
	}
	if (c.attr == attrNodeLabel || c.attr == attrEngineLabel) && c.label == "" {
		return Constraint{}, bad("missing label name after %q", key)
	}
	return c, nil
}

// Match reports whether node n satisfies the constraint. Values compare
// case-insensitively, as Swarm's do (hostnames are case-insensitive); an
// attribute the node lacks reads as "", so == fails and != holds.
func (c Constraint) Match(n *minswv1.Node) bool {
	got := c.nodeValue(n)
	eq := strings.EqualFold(got, c.value)
	if c.op == NotEqual {
		return !eq
	}
	return eq
}

func (c Constraint) nodeValue(n *minswv1.Node) string {
	switch c.attr {
	case attrID:
		return n.GetId()
	case attrHostname:
		return n.GetDescription().GetHostname()
	case attrRole:
		if n.GetRole() == minswv1.NodeRole_NODE_ROLE_MANAGER {
			return "manager"
		}
		return "worker"
	case attrOS:
		return n.GetDescription().GetOs()
	case attrArch:
		return n.GetDescription().GetArchitecture()
	case attrNodeLabel:
		return n.GetSpec().GetLabels()[c.label]
	default:
		// engine.labels: the daemon's --label values.
		return n.GetDescription().GetEngineLabels()[c.label]
	}
}

// matchAll reports whether n satisfies every constraint.
func matchAll(cs []Constraint, n *minswv1.Node) bool {
	for i := range cs {
		if !cs[i].Match(n) {
			return false
		}
	}
	return true
}
