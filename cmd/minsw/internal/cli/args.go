package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// Argument checks with docker's wording.

// NoArgs refuses any argument.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("%q accepts no arguments.\nSee '%s --help'.", cmd.CommandPath(), cmd.CommandPath())
}

// ExactArgs wants n arguments.
func ExactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return fmt.Errorf("%q requires exactly %d %s.\nSee '%s --help'.", cmd.CommandPath(), n, Plural(n, "argument"), cmd.CommandPath())
	}
}

// MinArgs wants n arguments or more.
func MinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return fmt.Errorf("%q requires at least %d %s.\nSee '%s --help'.", cmd.CommandPath(), n, Plural(n, "argument"), cmd.CommandPath())
	}
}

// Plural is word, with an s unless n is 1.
func Plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// MaxArgs wants n arguments or fewer.
func MaxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return fmt.Errorf("%q accepts at most %d %s.\nSee '%s --help'.", cmd.CommandPath(), n, Plural(n, "argument"), cmd.CommandPath())
	}
}
