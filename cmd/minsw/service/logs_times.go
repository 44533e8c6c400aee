package service

import (
	"fmt"
	"strings"
	"time"

	timetypes "github.com/docker/docker/api/types/time"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// logTimeOptions are service logs' --since, --timestamps and --details.
type logTimeOptions struct {
	since               string
	timestamps, details bool
}

func addLogTimeFlags(cmd *cobra.Command, o *logTimeOptions) {
	cmd.Flags().StringVar(&o.since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	cmd.Flags().BoolVarP(&o.timestamps, "timestamps", "t", false, "Show timestamps")
	cmd.Flags().BoolVar(&o.details, "details", false, "Show extra details provided to logs")
}

// request sets the request's since from --since, read as docker reads it
// (a time, a date or a duration before now).
func (o logTimeOptions) request(r *minswv1.ServiceLogsRequest, now time.Time) error {
	if o.since == "" {
		return nil
	}
	ts, err := timetypes.GetTimestamp(o.since, now)
	if err != nil {
		return fmt.Errorf("invalid value for --since %q: a time such as 2013-01-02T13:23:37Z, or a duration such as 42m", o.since)
	}
	sec, nsec, err := timetypes.ParseTimestamps(ts, 0)
	if err != nil {
		return fmt.Errorf("invalid value for --since %q: %s", o.since, ts)
	}
	r.Since = timestamppb.New(time.Unix(sec, nsec))
	return nil
}

// rfc3339NanoFixed is docker's --timestamps layout: nine fraction digits
// always, so the columns line up.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// decorate lays out one line as docker's service logs does:
// "[time ]prefix | [attributes ]data", the attributes (--details) as
// key=value pairs in key order joined by commas.
func (o logTimeOptions) decorate(l *minswv1.LogLine, prefix, data string) string {
	var b strings.Builder
	if o.timestamps {
		var t time.Time
		if l.GetTime() != nil {
			t = l.GetTime().AsTime()
		}
		b.WriteString(t.UTC().Format(rfc3339NanoFixed))
		b.WriteByte(' ')
	}
	b.WriteString(prefix)
	if o.details {
		attrs := make([]string, 0, len(l.GetAttrs()))
		for _, a := range l.GetAttrs() {
			attrs = append(attrs, a.GetKey()+"="+a.GetValue())
		}
		b.WriteString(strings.Join(attrs, ","))
		b.WriteByte(' ')
	}
	b.WriteString(data)
	return b.String()
}
