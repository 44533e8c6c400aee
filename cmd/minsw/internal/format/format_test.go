package format

import (
	"strings"
	"testing"
	"time"
)

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "Less than a second"},
		{900 * time.Millisecond, "Less than a second"},
		{time.Second, "1 second"},
		{47 * time.Second, "47 seconds"},
		{59 * time.Second, "59 seconds"},
		{60 * time.Second, "About a minute"},
		{119 * time.Second, "About a minute"},
		{19 * time.Minute, "19 minutes"},
		{59 * time.Minute, "59 minutes"},
		{60 * time.Minute, "About an hour"},
		{89 * time.Minute, "About an hour"},
		{90 * time.Minute, "2 hours"},
		{47 * time.Hour, "47 hours"},
		{48 * time.Hour, "2 days"},
		{13 * 24 * time.Hour, "13 days"},
		{14 * 24 * time.Hour, "2 weeks"},
		{60 * 24 * time.Hour, "2 months"},
		{2 * 365 * 24 * time.Hour, "2 years"},
	} {
		if got := HumanDuration(tc.d); got != tc.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	if got := Ago(now, now.Add(-47*time.Second)); got != "47 seconds ago" {
		t.Errorf("got %q", got)
	}
	if got := Ago(now, time.Time{}); got != "" {
		t.Errorf("zero time: %q", got)
	}
}

func TestImage(t *testing.T) {
	for in, want := range map[string]string{
		"containous/whoami":          "containous/whoami:latest",
		"xiaopeng163/net-box:latest": "xiaopeng163/net-box:latest",
		"localhost:5000/whoami":      "localhost:5000/whoami:latest",
		"localhost:5000/whoami:v2":   "localhost:5000/whoami:v2",
		"busybox:1.36@sha256:abcd":   "busybox:1.36",
		"busybox@sha256:abcd":        "busybox",
		"":                           "",
	} {
		if got := Image(in); got != want {
			t.Errorf("Image(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		trunc bool
		want  string
	}{
		{[]string{"ping", "8.8.8.8"}, true, `"ping 8.8.8.8"`},
		{[]string{"/whoami"}, true, `"/whoami"`},
		{[]string{"sh", "-c", "while true; do sleep 1; done"}, true, `"sh -c while true; d…"`},
		{[]string{"sh", "-c", "while true; do sleep 1; done"}, false, `"sh -c while true; do sleep 1; done"`},
	} {
		if got := Command(tc.args, tc.trunc); got != tc.want {
			t.Errorf("Command(%q) = %s, want %s", tc.args, got, tc.want)
		}
	}
}

type serviceRow struct{ ID, Name, Mode, Replicas, Image, Ports string }

var serviceTable = Table{
	Default: "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}",
	Quiet:   "{{.ID}}",
	Headers: map[string]string{"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE", "Ports": "PORTS"},
}

var seedRows = []any{
	serviceRow{ID: "skbcdfvgidwa", Name: "client", Mode: "replicated", Replicas: "1/1", Image: "xiaopeng163/net-box:latest"},
	serviceRow{ID: "jozc1x1c1zpy", Name: "web", Mode: "replicated", Replicas: "2/2", Image: "containous/whoami:latest"},
}

func TestTableWrite(t *testing.T) {
	for _, tc := range []struct {
		name, format string
		quiet        bool
		want         string
	}{
		{name: "seed service ls", want: "" +
			"ID             NAME      MODE         REPLICAS   IMAGE                        PORTS\n" +
			"skbcdfvgidwa   client    replicated   1/1        xiaopeng163/net-box:latest\n" +
			"jozc1x1c1zpy   web       replicated   2/2        containous/whoami:latest\n"},
		{name: "quiet", quiet: true, want: "skbcdfvgidwa\njozc1x1c1zpy\n"},
		{name: "raw template", format: "{{.ID}} {{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}", want: "" +
			"skbcdfvgidwa client replicated 1/1 xiaopeng163/net-box:latest\n" +
			"jozc1x1c1zpy web replicated 2/2 containous/whoami:latest\n"},
		{name: "table template with typed \\t", format: `table {{.Name}}\t{{.Replicas}}`, want: "" +
			"NAME      REPLICAS\nclient    1/1\nweb       2/2\n"},
		{name: "json", format: "{{json .Name}}", want: "\"client\"\n\"web\"\n"},
		{name: "functions", format: "{{upper .Name}} {{truncate .ID 4}}", want: "CLIENT skbc\nWEB jozc\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := serviceTable.Write(&b, tc.format, tc.quiet, seedRows); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestTableWriteErrors(t *testing.T) {
	var b strings.Builder
	if err := serviceTable.Write(&b, "{{.Name", false, seedRows); err == nil || !strings.Contains(err.Error(), "template parsing error") {
		t.Errorf("bad template: %v", err)
	}
	if err := serviceTable.Write(&b, "{{.Nope}}", false, seedRows); err == nil {
		t.Error("unknown field: want an error")
	}
}
