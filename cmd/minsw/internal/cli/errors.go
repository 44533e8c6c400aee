package cli

import (
	"errors"
	"fmt"

	"github.com/minsw/minsw/client"
)

// ExitError ends the CLI with a status and no message: `container exec`
// passes the process's exit code through.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// MultiError reports the failures of a command applied to several objects
// (docker goes on after a failure and exits 1 at the end).
func MultiError(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]error, len(errs))
	for i, e := range errs {
		msgs[i] = errors.New(client.Message(e))
	}
	return errors.Join(msgs...)
}

// EachRef runs fn for every ref, as docker's multi-argument commands do:
// one ref's failure is reported at the end without hiding the others.
func EachRef[T any](refs []string, fn func(ref string) (T, error)) ([]T, error) {
	var out []T
	var errs []error
	for _, ref := range refs {
		v, err := fn(ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, v)
	}
	return out, MultiError(errs)
}

// RemoveEach removes every ref with rm, printing each one removed as
// docker's rm commands do, and returns the failures together.
func (c *CLI) RemoveEach(refs []string, rm func(ref string) error) error {
	_, err := EachRef(refs, func(ref string) (string, error) {
		if err := rm(ref); err != nil {
			return "", err
		}
		fmt.Fprintln(c.Out, ref)
		return ref, nil
	})
	return err
}
