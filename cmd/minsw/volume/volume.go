// Package volume holds `minsw volume`: this node's named volumes.
package volume

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/inspect"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// Volumes are the local node's (the "local" driver), so these commands
// talk to the daemon itself, never to the managers.
// NewCommand is `minsw volume`.
func NewCommand(c *cli.CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes", Args: cli.NoArgs}
	cmd.AddCommand(newCreateCommand(c), newListCommand(c), newInspectCommand(c),
		newRemoveCommand(c), newPruneCommand(c))
	return cmd
}

func newCreateCommand(c *cli.CLI) *cobra.Command {
	var driver string
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cli.MaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			req := &minswv1.CreateVolumeRequest{Driver: driver, Labels: cli.ParseKV(labels), DriverOpts: cli.ParseKV(opts)}
			if len(args) == 1 {
				req.Name = args[0]
			}
			resp, err := cl.Volumes.CreateVolume(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, resp.GetVolume().GetName())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	f.StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	return cmd
}

type volumeRow struct{ Driver, Name, Mountpoint, Labels, Scope string }

var volumeTable = format.Table{
	Default: "table {{.Driver}}\t{{.Name}}",
	Quiet:   "{{.Name}}",
	Headers: map[string]string{"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Scope": "SCOPE"},
}

func newListCommand(c *cli.CLI) *cobra.Command {
	var quiet bool
	var tmpl string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := cl.Volumes.ListVolumes(cmd.Context(), &minswv1.ListVolumesRequest{})
			if err != nil {
				return err
			}
			rows := make([]any, len(resp.GetVolumes()))
			for i, v := range resp.GetVolumes() {
				rows[i] = volumeRow{Driver: v.GetDriver(), Name: v.GetName(), Mountpoint: v.GetMountpoint(), Labels: cli.LabelString(v.GetLabels()), Scope: "local"}
			}
			return volumeTable.Write(c.Out, tmpl, quiet, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	cmd.Flags().StringVar(&tmpl, "format", "", "Format output using a Go template")
	return cmd
}

// volumeInspect is docker's shape.
type volumeInspect struct {
	CreatedAt  string
	Driver     string
	Labels     map[string]string
	Mountpoint string
	Name       string
	Options    map[string]string
	Scope      string
}

func newInspectCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			objs, errs := cli.EachRef(args, func(ref string) (any, error) {
				resp, err := cl.Volumes.InspectVolume(cmd.Context(), &minswv1.InspectVolumeRequest{Name: ref})
				if err != nil {
					return nil, err
				}
				v := resp.GetVolume()
				out := volumeInspect{Driver: v.GetDriver(), Labels: v.GetLabels(), Mountpoint: v.GetMountpoint(), Name: v.GetName(), Options: v.GetOptions(), Scope: "local"}
				if t := v.GetCreatedAt(); t != nil {
					out.CreatedAt = inspect.Time(t)
				}
				return out, nil
			})
			if objs == nil {
				objs = []any{}
			}
			if err := inspect.WriteJSON(c.Out, objs); err != nil {
				return err
			}
			return errs
		},
	}
}

func newRemoveCommand(c *cli.CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Args:    cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return c.RemoveEach(args, func(ref string) error {
				_, err := cl.Volumes.RemoveVolume(cmd.Context(), &minswv1.RemoveVolumeRequest{Name: ref, Force: force})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func newPruneCommand(c *cli.CLI) *cobra.Command {
	var force, all bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force {
				what := "anonymous local volumes"
				if all {
					what = "all local volumes"
				}
				fmt.Fprintf(c.Out, "WARNING! This will remove %s not used by at least one container.\nAre you sure you want to continue? [y/N] ", what)
				line, _ := bufio.NewReader(c.In).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					return nil
				}
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := cl.Volumes.PruneVolumes(cmd.Context(), &minswv1.PruneVolumesRequest{All: all})
			if err != nil {
				return err
			}
			if len(resp.GetVolumesDeleted()) > 0 {
				fmt.Fprintln(c.Out, "Deleted Volumes:")
				for _, v := range resp.GetVolumesDeleted() {
					fmt.Fprintln(c.Out, v)
				}
				fmt.Fprintln(c.Out)
			}
			fmt.Fprintf(c.Out, "Total reclaimed space: %s\n", humanSize(resp.GetSpaceReclaimed()))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	return cmd
}

// humanSize prints a byte count as docker does (decimal units, 4
// significant digits): 0B, 1kB, 1.5MB.
func humanSize(n uint64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}
