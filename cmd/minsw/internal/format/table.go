// Package format renders the CLI's tables, Go templates and human times the
// way docker's CLI does, so a Swarm user reads minsw output without surprise.
// It knows nothing of the API: callers hand it rows of plain strings.
package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// Table describes one list command's output.
type Table struct {
	// Default is the format used when the user gives none, e.g.
	// "table {{.ID}}\t{{.Name}}".
	Default string
	// Quiet is the format for -q, e.g. "{{.ID}}".
	Quiet string
	// Headers maps a row field to its column title ("DesiredState" ->
	// "DESIRED STATE").
	Headers map[string]string
}

// NewTabWriter makes a tabwriter with docker's spacing: columns at least ten
// wide, three spaces between them.
func NewTabWriter(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
}

var funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": Title,
	"truncate": func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	},
	"pad": func(s string, before, after int) string {
		return strings.Repeat(" ", before) + s + strings.Repeat(" ", after)
	},
	"println": fmt.Sprintln,
}

// Parse compiles a user's --format string. A format starting with "table"
// asks for a header and aligned columns; "\t" typed literally on a shell
// means a tab, as in docker.
func Parse(format string) (tmpl *template.Template, table bool, err error) {
	format = strings.ReplaceAll(format, `\t`, "\t")
	format = strings.ReplaceAll(format, `\n`, "\n")
	if rest, ok := strings.CutPrefix(format, "table"); ok {
		table = true
		format = strings.TrimLeft(rest, " ")
	}
	tmpl, err = template.New("").Funcs(funcs).Parse(format)
	if err != nil {
		return nil, false, fmt.Errorf("template parsing error: %w", err)
	}
	return tmpl, table, nil
}

// Write renders rows (structs whose exported fields the template names)
// with the user's format, the quiet format, or the table's default.
func (t Table) Write(out io.Writer, format string, quiet bool, rows []any) error {
	switch {
	case quiet:
		format = t.Quiet
	case format == "":
		format = t.Default
	}
	tmpl, table, err := Parse(format)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if table {
		tw := NewTabWriter(&buf)
		if err := executeLine(tw, tmpl, t.Headers); err != nil {
			return err
		}
		for _, r := range rows {
			if err := executeLine(tw, tmpl, r); err != nil {
				return err
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		buf = *bytes.NewBuffer(trimLines(buf.Bytes()))
	} else {
		for _, r := range rows {
			if err := executeLine(&buf, tmpl, r); err != nil {
				return err
			}
		}
	}
	_, err = out.Write(buf.Bytes())
	return err
}

func executeLine(w io.Writer, tmpl *template.Template, data any) error {
	var line bytes.Buffer
	if err := tmpl.Execute(&line, data); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	_, err := fmt.Fprintln(w, line.String())
	return err
}

// trimLines drops the blanks tabwriter leaves after an empty last column
// (docker prints them; nobody wants them).
func trimLines(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " ")
	}
	return bytes.Join(lines, []byte("\n"))
}
