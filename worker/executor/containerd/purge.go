package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/leases"

	"github.com/minsw/minsw/worker/executor"
)

// Purge removes everything the node has in containerd: every container with
// its task and snapshot, every image (containerd then collects their layers'
// snapshots and content), leases, and the namespace itself; and the
// containers' files. It is what `swarm leave` needs; it is not part of
// executor.Executor.
func (e *Executor) Purge(ctx context.Context) error {
	ctx = e.ns(ctx)
	var errs []error
	all, err := e.List(ctx)
	if err != nil {
		return err
	}
	for _, s := range all {
		if err := e.Remove(ctx, s.ID); err != nil && !isNotFound(err) {
			errs = append(errs, err)
		}
	}
	is := e.client.ImageService()
	imgs, err := is.List(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("list images: %w", err))
	}
	for i, img := range imgs {
		var opts []images.DeleteOpt
		if i == len(imgs)-1 {
			// The last delete waits for the garbage collection.
			opts = append(opts, images.SynchronousDelete())
		}
		if err := is.Delete(ctx, img.Name, opts...); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %s: %w", img.Name, err))
		}
	}
	ls := e.client.LeasesService()
	if all, err := ls.List(ctx); err == nil {
		for _, l := range all {
			if err := ls.Delete(ctx, l, leases.SynchronousDelete); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove lease %s: %w", l.ID, err))
			}
		}
	}
	if len(errs) == 0 {
		if err := e.client.NamespaceService().Delete(ctx, e.cfg.Namespace); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove namespace %s: %w", e.cfg.Namespace, err))
		}
	}
	ents, _ := os.ReadDir(e.cfg.StateDir)
	for _, ent := range ents {
		if ent.Name() != "fifo" {
			_ = os.RemoveAll(filepath.Join(e.cfg.StateDir, ent.Name()))
		}
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool {
	return errdefs.IsNotFound(err) || errors.Is(err, executor.ErrNotFound)
}
