package containeropts

import (
	"fmt"
	"strings"
	"text/template"
)

// TemplateContext is what {{...}} in --hostname, --env and
// --container-label may refer to, with docker's names:
// {{.Service.Name}}-{{.Task.Slot}}, {{.Node.Hostname}}.
type TemplateContext struct {
	Service struct {
		ID     string
		Name   string
		Labels map[string]string
	}
	Node struct {
		ID       string
		Hostname string
		Platform struct {
			OS           string
			Architecture string
		}
	}
	Task struct {
		ID   string
		Name string
		Slot string
	}
}

// CheckTemplate reports a value that is not a valid template, or that
// names a field the context does not have.
func CheckTemplate(what, s string) error {
	if !strings.Contains(s, "{{") {
		return nil
	}
	if _, err := Expand(s, TemplateContext{}); err != nil {
		return fmt.Errorf("invalid template in %s %q: %s", what, s, templateReason(err))
	}
	return nil
}

// Expand fills the template s from ctx; a value without {{ is returned as is.
func Expand(s string, ctx TemplateContext) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	t, err := template.New("").Option("missingkey=error").Parse(s)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, ctx); err != nil {
		return "", err
	}
	return b.String(), nil
}

// templateReason drops text/template's "template: :1:" prefix.
func templateReason(err error) string {
	msg := err.Error()
	for _, p := range []string{"template: :", "template: "} {
		if rest, ok := strings.CutPrefix(msg, p); ok {
			msg = rest
			break
		}
	}
	return msg
}
