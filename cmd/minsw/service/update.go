package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// updateOptions are service update's flags.
type updateOptions struct {
	sf                specFlags
	stf               storageFlags
	uf                updateConfigFlags
	cf                containerFlags
	hf                healthFlags
	w                 WaitFlags
	image             string
	platforms         []*minswv1.Platform // the new image's, from the registry
	args              []string
	envAdd, envRm     []string
	conAdd, conRm     []string
	labelAdd, labelRm []string
	netAdd, netRm     []string
	pubAdd, pubRm     []string
	force, rollback   bool

	// The command being run, set by RunE: apply asks it which flags
	// were given.
	cmd     *cobra.Command
	flags   *pflag.FlagSet
	changed func(string) bool
}

func newUpdateCommand(c *cli.CLI) *cobra.Command {
	var o updateOptions
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] SERVICE",
		Short: "Update a service",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.cmd, o.flags, o.changed = cmd, cmd.Flags(), cmd.Flags().Changed
			return runUpdate(cmd.Context(), c, args[0], &o)
		},
	}
	o.register(cmd)
	return cmd
}

func (o *updateOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Uint64Var(&o.sf.replicas, "replicas", 1, "Number of tasks")
	o.stf.registerUpdate(f)
	o.uf.register(f)
	o.hf.register(f)
	f.StringVar(&o.image, "image", "", "Service image tag")
	f.StringArrayVar(&o.args, "args", nil, "Service command args")
	f.StringArrayVar(&o.envAdd, "env-add", nil, "Add or update an environment variable")
	f.StringArrayVar(&o.envRm, "env-rm", nil, "Remove an environment variable")
	f.StringArrayVar(&o.conAdd, "constraint-add", nil, "Add or update a placement constraint")
	f.StringArrayVar(&o.conRm, "constraint-rm", nil, "Remove a constraint")
	f.StringArrayVar(&o.labelAdd, "label-add", nil, "Add or update a service label")
	f.StringArrayVar(&o.labelRm, "label-rm", nil, "Remove a label by its key")
	f.StringArrayVar(&o.netAdd, "network-add", nil, "Add a network")
	f.StringArrayVar(&o.netRm, "network-rm", nil, "Remove a network")
	f.StringArrayVar(&o.pubAdd, "publish-add", nil, "Add or update a published port (as -p)")
	f.StringArrayVar(&o.pubRm, "publish-rm", nil, "Remove a published port by its target port (TARGET[/PROTOCOL] or PUBLISHED:TARGET[/PROTOCOL])")
	o.sf.registerRestart(f)
	f.BoolVar(&o.force, "force", false, "Force update even if no changes require it")
	f.BoolVar(&o.rollback, "rollback", false, "Rollback to previous specification")
	o.cf.registerUpdate(f)
	o.w.register(cmd)
}

// runUpdate changes the service as the flags say (or rolls it back to its
// previous spec), prints its name as given and follows it.
func runUpdate(ctx context.Context, c *cli.CLI, ref string, o *updateOptions) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	if o.changed("image") {
		var auth string
		if o.cf.withRegistryAuth && !o.cf.noResolveImage {
			if auth, err = registryAuth(o.image); err != nil {
				return err
			}
		}
		o.image, o.platforms = pinImage(ctx, c.Err, cl.Images, o.image, auth, o.cf.noResolveImage)
	}
	var svc *minswv1.Service
	if o.rollback {
		svc, err = rollbackService(ctx, cl, ref)
	} else {
		svc, err = updateService(ctx, cl, ref, o.apply)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Out, ref)
	w := o.w
	w.rollback = o.rollback
	return follow(ctx, c, cl, svc, w)
}

// rollbackService asks the manager to return the service to its previous spec.
func rollbackService(ctx context.Context, cl *client.Client, ref string) (*minswv1.Service, error) {
	resp, err := cl.Control.GetService(ctx, &minswv1.GetServiceRequest{Ref: ref})
	if err != nil {
		return nil, err
	}
	up, err := cl.Control.UpdateService(ctx, &minswv1.UpdateServiceRequest{
		Ref: resp.GetService().GetId(), Version: resp.GetService().GetMeta().GetVersion(), Rollback: true,
	})
	if err != nil {
		return nil, err
	}
	return up.GetService(), nil
}

// apply carries out the flags on a copy of the service's spec, in a fixed
// order, so the first bad flag is the one reported.
func (o *updateOptions) apply(spec *minswv1.ServiceSpec) error {
	if spec.Task == nil {
		spec.Task = &minswv1.TaskSpec{}
	}
	if spec.Task.Container == nil {
		spec.Task.Container = &minswv1.ContainerSpec{}
	}
	if err := o.applyReplicas(spec); err != nil {
		return err
	}
	o.applyContainer(spec.Task.Container)
	if len(o.platforms) > 0 {
		placement(spec.Task).Platforms = o.platforms
	}
	o.applyPlacement(spec)
	if err := o.applyRestart(spec.Task); err != nil {
		return err
	}
	if err := applyPublishChanges(spec, o.pubAdd, o.pubRm); err != nil {
		return err
	}
	if err := o.hf.apply(o.flags, spec.Task.Container); err != nil {
		return err
	}
	if err := o.uf.applyUpdate(o.flags, spec); err != nil {
		return err
	}
	if err := o.cf.applyUpdate(o.cmd, spec); err != nil {
		return err
	}
	if err := o.stf.applyUpdate(spec.Task.Container); err != nil {
		return err
	}
	if o.force {
		spec.Task.ForceUpdate++
	}
	return nil
}

// applyReplicas: --replicas, a replicated service's or a replicated job's.
func (o *updateOptions) applyReplicas(spec *minswv1.ServiceSpec) error {
	if !o.changed("replicas") {
		return nil
	}
	if j := spec.GetReplicatedJob(); j != nil {
		j.TotalCompletions = o.sf.replicas
	} else if spec.GetReplicated() == nil {
		return errors.New("replicas can only be used with replicated or replicated-job mode")
	} else {
		spec.GetReplicated().Replicas = o.sf.replicas
	}
	return nil
}

// applyContainer: --image, --args, --env-rm then --env-add.
func (o *updateOptions) applyContainer(ct *minswv1.ContainerSpec) {
	if o.changed("image") {
		ct.Image = o.image
	}
	if o.changed("args") {
		ct.Args = o.args
	}
	ct.Env = removeKeys(ct.Env, o.envRm)
	ct.Env = addKeyed(ct.Env, o.envAdd)
}

// applyPlacement: constraints, labels and networks, each removals first.
func (o *updateOptions) applyPlacement(spec *minswv1.ServiceSpec) {
	if o.changed("constraint-rm") || o.changed("constraint-add") {
		if spec.Task.Placement == nil {
			spec.Task.Placement = &minswv1.Placement{}
		}
		cs := slices.DeleteFunc(spec.Task.Placement.Constraints, func(s string) bool { return slices.Contains(o.conRm, s) })
		for _, a := range o.conAdd {
			if !slices.Contains(cs, a) {
				cs = append(cs, a)
			}
		}
		spec.Task.Placement.Constraints = cs
	}
	for _, k := range o.labelRm {
		delete(spec.Labels, k)
	}
	if len(o.labelAdd) > 0 && spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	for k, v := range cli.ParseKV(o.labelAdd) {
		spec.Labels[k] = v
	}
	spec.Task.Networks = slices.DeleteFunc(spec.Task.Networks, func(n *minswv1.NetworkAttachmentConfig) bool {
		return slices.Contains(o.netRm, n.GetTarget())
	})
	for _, n := range o.netAdd {
		spec.Task.Networks = append(spec.Task.Networks, &minswv1.NetworkAttachmentConfig{Target: n})
	}
}

// applyRestart: the --restart-* flags given.
func (o *updateOptions) applyRestart(ts *minswv1.TaskSpec) error {
	changed := o.changed
	if !changed("restart-condition") && !changed("restart-delay") && !changed("restart-max-attempts") && !changed("restart-window") {
		return nil
	}
	if ts.Restart == nil {
		ts.Restart = &minswv1.RestartPolicy{}
	}
	if changed("restart-condition") {
		cond, err := parseRestartCondition(o.sf.restartCondition)
		if err != nil {
			return err
		}
		ts.Restart.Condition = cond
	}
	if changed("restart-delay") {
		ts.Restart.Delay = durationpb.New(o.sf.restartDelay)
	}
	if changed("restart-max-attempts") {
		ts.Restart.MaxAttempts = o.sf.restartMaxAttempt
	}
	if changed("restart-window") {
		ts.Restart.Window = durationpb.New(o.sf.restartWindow)
	}
	return nil
}

// removeKeys drops the KEY=... entries named by keys (docker's --env-rm).
func removeKeys(list, keys []string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(keys, k)
	})
}

// addKeyed sets KEY=VALUE entries, replacing an entry with the same key.
func addKeyed(list, add []string) []string {
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		list = removeKeys(list, []string{k})
		list = append(list, kv)
	}
	return list
}
