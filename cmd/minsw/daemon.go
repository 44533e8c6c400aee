package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDaemonCommand is a placeholder: the lead replaces this file with the
// real daemon.
func newDaemonCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Run the minsw node daemon",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("minsw daemon: not built yet")
		},
	}
}
