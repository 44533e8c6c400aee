package inspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
)

// AddFormats gives every inspect command docker's -f/--format: a Go
// template run over each object of the inspect JSON (so `{{.Spec.Name}}`
// and `{{json .Endpoint}}` read the fields docker's do), one line each.
// The commands themselves print the JSON; the template is applied to it.
func AddFormats(out *io.Writer, cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		AddFormats(out, sub)
	}
	if cmd.Name() != "inspect" || cmd.RunE == nil || cmd.Flags().Lookup("format") != nil {
		return
	}
	var format string
	if cmd.Flags().ShorthandLookup("f") == nil {
		cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	} else {
		cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template")
	}
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if format == "" {
			return run(cmd, args)
		}
		tmpl, err := template.New("").Funcs(inspectFuncs).Parse(format)
		if err != nil {
			return fmt.Errorf("template parsing error: %v", err)
		}
		w := *out
		var buf bytes.Buffer
		*out = &buf
		runErr := run(cmd, args)
		*out = w
		if err := applyInspectFormat(w, buf.Bytes(), tmpl); err != nil {
			return err
		}
		return runErr
	}
}

// applyInspectFormat runs tmpl over each object of inspect JSON (an array,
// or one object); output that is not JSON (--pretty) passes unchanged.
func applyInspectFormat(w io.Writer, data []byte, tmpl *template.Template) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var items []any
	if err := json.Unmarshal(data, &items); err != nil {
		var one any
		if err := json.Unmarshal(data, &one); err != nil {
			_, werr := w.Write(data)
			return werr
		}
		items = []any{one}
	}
	for _, it := range items {
		var line bytes.Buffer
		if err := tmpl.Execute(&line, it); err != nil {
			return fmt.Errorf("template: %v", err)
		}
		fmt.Fprintln(w, line.String())
	}
	return nil
}

// inspectFuncs are docker's template functions.
var inspectFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"println": fmt.Sprintln,
}
