package service

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

func newUpdateCommand(c *cli.CLI) *cobra.Command {
	var sf specFlags
	var stf storageFlags
	var uf updateConfigFlags
	var cf containerFlags
	var hf healthFlags
	var w WaitFlags
	var image string
	var envAdd, envRm, conAdd, conRm, labelAdd, labelRm, netAdd, netRm, pubAdd, pubRm []string
	var args []string
	var force, rollback bool
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] SERVICE",
		Short: "Update a service",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, posArgs []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			changed := cmd.Flags().Changed
			change := func(spec *minswv1.ServiceSpec) error {
				if spec.Task == nil {
					spec.Task = &minswv1.TaskSpec{}
				}
				if spec.Task.Container == nil {
					spec.Task.Container = &minswv1.ContainerSpec{}
				}
				ct := spec.Task.Container
				if changed("replicas") {
					if j := spec.GetReplicatedJob(); j != nil {
						j.TotalCompletions = sf.replicas
					} else if spec.GetReplicated() == nil {
						return errors.New("replicas can only be used with replicated or replicated-job mode")
					} else {
						spec.GetReplicated().Replicas = sf.replicas
					}
				}
				if changed("image") {
					ct.Image = image
				}
				if changed("args") {
					ct.Args = args
				}
				ct.Env = removeKeys(ct.Env, envRm)
				ct.Env = addKeyed(ct.Env, envAdd)
				if changed("constraint-rm") || changed("constraint-add") {
					if spec.Task.Placement == nil {
						spec.Task.Placement = &minswv1.Placement{}
					}
					cs := slices.DeleteFunc(spec.Task.Placement.Constraints, func(s string) bool { return slices.Contains(conRm, s) })
					for _, a := range conAdd {
						if !slices.Contains(cs, a) {
							cs = append(cs, a)
						}
					}
					spec.Task.Placement.Constraints = cs
				}
				for _, k := range labelRm {
					delete(spec.Labels, k)
				}
				if len(labelAdd) > 0 && spec.Labels == nil {
					spec.Labels = map[string]string{}
				}
				for k, v := range cli.ParseKV(labelAdd) {
					spec.Labels[k] = v
				}
				spec.Task.Networks = slices.DeleteFunc(spec.Task.Networks, func(n *minswv1.NetworkAttachmentConfig) bool {
					return slices.Contains(netRm, n.GetTarget())
				})
				for _, n := range netAdd {
					spec.Task.Networks = append(spec.Task.Networks, &minswv1.NetworkAttachmentConfig{Target: n})
				}
				if changed("restart-condition") || changed("restart-delay") || changed("restart-max-attempts") || changed("restart-window") {
					if spec.Task.Restart == nil {
						spec.Task.Restart = &minswv1.RestartPolicy{}
					}
					if changed("restart-condition") {
						cond, err := parseRestartCondition(sf.restartCondition)
						if err != nil {
							return err
						}
						spec.Task.Restart.Condition = cond
					}
					if changed("restart-delay") {
						spec.Task.Restart.Delay = durationpb.New(sf.restartDelay)
					}
					if changed("restart-max-attempts") {
						spec.Task.Restart.MaxAttempts = sf.restartMaxAttempt
					}
					if changed("restart-window") {
						spec.Task.Restart.Window = durationpb.New(sf.restartWindow)
					}
				}
				if err := applyPublishChanges(spec, pubAdd, pubRm); err != nil {
					return err
				}
				if err := hf.apply(cmd.Flags(), spec.Task.Container); err != nil {
					return err
				}
				if err := uf.applyUpdate(cmd.Flags(), spec); err != nil {
					return err
				}
				if err := cf.applyUpdate(cmd, spec); err != nil {
					return err
				}
				if err := stf.applyUpdate(ct); err != nil {
					return err
				}
				if force {
					spec.Task.ForceUpdate++
				}
				return nil
			}
			var svc *minswv1.Service
			if rollback {
				resp, err := cl.Control.GetService(cmd.Context(), &minswv1.GetServiceRequest{Ref: posArgs[0]})
				if err != nil {
					return err
				}
				up, err := cl.Control.UpdateService(cmd.Context(), &minswv1.UpdateServiceRequest{
					Ref: resp.GetService().GetId(), Version: resp.GetService().GetMeta().GetVersion(), Rollback: true,
				})
				if err != nil {
					return err
				}
				svc = up.GetService()
			} else if svc, err = updateService(cmd.Context(), cl, posArgs[0], change); err != nil {
				return err
			}
			fmt.Fprintln(c.Out, posArgs[0])
			w.rollback = rollback
			if isJobSpec(svc.GetSpec()) {
				return waitForJob(cmd.Context(), c, cl, svc.GetId(), w)
			}
			return Wait(cmd.Context(), c, cl, svc.GetId(), svc.GetSpec().GetName(), w)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&sf.replicas, "replicas", 1, "Number of tasks")
	stf.registerUpdate(f)
	uf.register(f)
	hf.register(f)
	f.StringVar(&image, "image", "", "Service image tag")
	f.StringArrayVar(&args, "args", nil, "Service command args")
	f.StringArrayVar(&envAdd, "env-add", nil, "Add or update an environment variable")
	f.StringArrayVar(&envRm, "env-rm", nil, "Remove an environment variable")
	f.StringArrayVar(&conAdd, "constraint-add", nil, "Add or update a placement constraint")
	f.StringArrayVar(&conRm, "constraint-rm", nil, "Remove a constraint")
	f.StringArrayVar(&labelAdd, "label-add", nil, "Add or update a service label")
	f.StringArrayVar(&labelRm, "label-rm", nil, "Remove a label by its key")
	f.StringArrayVar(&netAdd, "network-add", nil, "Add a network")
	f.StringArrayVar(&netRm, "network-rm", nil, "Remove a network")
	f.StringArrayVar(&pubAdd, "publish-add", nil, "Add or update a published port (as -p)")
	f.StringArrayVar(&pubRm, "publish-rm", nil, "Remove a published port by its target port (TARGET[/PROTOCOL] or PUBLISHED:TARGET[/PROTOCOL])")
	f.StringVar(&sf.restartCondition, "restart-condition", "any", `Restart when condition is met ("none", "on-failure", "any")`)
	f.DurationVar(&sf.restartDelay, "restart-delay", 5*time.Second, "Delay between restart attempts (ns|us|ms|s|m|h)")
	f.Uint64Var(&sf.restartMaxAttempt, "restart-max-attempts", 0, "Maximum number of restarts before giving up")
	f.DurationVar(&sf.restartWindow, "restart-window", 0, "Window used to evaluate the restart policy (ns|us|ms|s|m|h)")
	f.BoolVar(&force, "force", false, "Force update even if no changes require it")
	f.BoolVar(&rollback, "rollback", false, "Rollback to previous specification")
	cf.registerUpdate(f)
	w.register(cmd)
	return cmd
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
