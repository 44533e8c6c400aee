package daemon

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/minsw/minsw/worker/executor"
	"github.com/minsw/minsw/worker/executor/fake"
)

// fakeStateOptions is the hidden --fake-executor-state: the fake
// executor's containers are read from FILE at start and written back at
// exit, so a benchmark's fake worker can stop and start again with its
// tasks, as a containerd worker's containers outlive its daemon.
type fakeStateOptions struct{ path string }

func (o *fakeStateOptions) register(f *pflag.FlagSet) {
	f.StringVar(&o.path, "fake-executor-state", "", "With --executor fake: keep its containers in FILE across restarts")
	_ = f.MarkHidden("fake-executor-state")
}

// load reads the file into e, if there is one.
func (o *fakeStateOptions) load(e *fake.Executor) error {
	if o.path == "" {
		return nil
	}
	f, err := os.Open(o.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--fake-executor-state: %w", err)
	}
	defer f.Close()
	if err := e.LoadState(f); err != nil {
		return fmt.Errorf("--fake-executor-state %s: %w", o.path, err)
	}
	return nil
}

// save writes a fake executor's containers to the file (others: nothing).
func (o *fakeStateOptions) save(e executor.Executor) error {
	fe, ok := e.(*fake.Executor)
	if o.path == "" || !ok {
		return nil
	}
	tmp := o.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("--fake-executor-state: %w", err)
	}
	if err := fe.SaveState(f); err != nil {
		f.Close()
		return fmt.Errorf("--fake-executor-state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--fake-executor-state: %w", err)
	}
	return os.Rename(tmp, o.path)
}
