package container

import (
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// writeLogRecords prints a container's log lines, each on its stream.
func writeLogRecords(c *cli.CLI, recs []*minswv1.LogRecord) error {
	for _, r := range recs {
		out := c.Out
		if r.GetStderr() {
			out = c.Err
		}
		if _, err := out.Write(r.GetData()); err != nil {
			return err
		}
	}
	return nil
}
