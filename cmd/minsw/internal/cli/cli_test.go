package cli

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func TestListFilterRequest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    []*minswv1.ListFilter
		wantErr bool
	}{
		{name: "none", args: nil, want: nil},
		{name: "one key", args: []string{"name=web"}, want: []*minswv1.ListFilter{{Key: "name", Values: []string{"web"}}}},
		{name: "a key twice keeps both values in order", args: []string{"label=a", "name=web", "label=b=c"},
			want: []*minswv1.ListFilter{{Key: "label", Values: []string{"a", "b=c"}}, {Key: "name", Values: []string{"web"}}}},
		{name: "keys are case-insensitive and trimmed", args: []string{" Name =web"}, want: []*minswv1.ListFilter{{Key: "name", Values: []string{"web"}}}},
		{name: "empty value is a value", args: []string{"name="}, want: []*minswv1.ListFilter{{Key: "name", Values: []string{""}}}},
		{name: "no equals sign", args: []string{"web"}, wantErr: true},
		{name: "no key", args: []string{"=web"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ListFilter{args: tc.args}
			got, err := f.Request()
			if tc.wantErr {
				if err == nil || err.Error() != "bad format of filter (expected name=value)" {
					t.Fatalf("got %v, %v; want docker's bad format error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].Key != tc.want[i].Key || !reflect.DeepEqual(got[i].Values, tc.want[i].Values) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestParseKV(t *testing.T) {
	if got := ParseKV(nil); got != nil {
		t.Errorf("no labels: %v, want nil", got)
	}
	got := ParseKV([]string{"env=prod", "tier", "url=http://x?a=b"})
	want := map[string]string{"env": "prod", "tier": "", "url": "http://x?a=b"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if s := LabelString(want); s != "env=prod,tier=,url=http://x?a=b" {
		t.Errorf("LabelString: %q", s)
	}
}

func TestTabAlign(t *testing.T) {
	in := "ID:\tabc\nLabels:\n - a=b\nService Mode:\tReplicated\n Replicas:\t2"
	want := "ID:\t\tabc\nLabels:\n - a=b\nService Mode:\tReplicated\n Replicas:\t2"
	if got := TabAlign(in, 16); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestArgsCheckWithDockersWords(t *testing.T) {
	cmd := &cobra.Command{Use: "rm"}
	parent := &cobra.Command{Use: "minsw"}
	parent.AddCommand(cmd)
	for _, tc := range []struct {
		name  string
		check cobra.PositionalArgs
		args  []string
		want  string
	}{
		{"no args", NoArgs, []string{"x"}, `"minsw rm" accepts no arguments.` + "\nSee 'minsw rm --help'."},
		{"exactly one", ExactArgs(1), nil, `"minsw rm" requires exactly 1 argument.` + "\nSee 'minsw rm --help'."},
		{"at least two", MinArgs(2), []string{"a"}, `"minsw rm" requires at least 2 arguments.` + "\nSee 'minsw rm --help'."},
		{"at most one", MaxArgs(1), []string{"a", "b"}, `"minsw rm" accepts at most 1 argument.` + "\nSee 'minsw rm --help'."},
		{"enough", MinArgs(1), []string{"a"}, ""},
	} {
		err := tc.check(cmd, tc.args)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEachRefGoesOnAfterAFailure(t *testing.T) {
	var seen []string
	got, err := EachRef([]string{"a", "bad", "c"}, func(ref string) (string, error) {
		seen = append(seen, ref)
		if ref == "bad" {
			return "", status.Error(codes.NotFound, "no such service: bad")
		}
		return strings.ToUpper(ref), nil
	})
	if !reflect.DeepEqual(seen, []string{"a", "bad", "c"}) || !reflect.DeepEqual(got, []string{"A", "C"}) {
		t.Fatalf("seen %v, got %v", seen, got)
	}
	if err == nil || strings.Contains(err.Error(), "rpc error") || !strings.Contains(err.Error(), "no such service: bad") {
		t.Fatalf("err %v: want the daemon's words, once", err)
	}
	var ee ExitError
	if errors.As(err, &ee) {
		t.Fatal("a failed ref is not an exit status")
	}
}
