// Package secret holds `minsw secret` and `minsw config`: one set of
// commands over the two kinds of small blobs the managers keep.
package secret

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/minsw/minsw/client"
	"github.com/minsw/minsw/cmd/minsw/internal/cli"
	"github.com/minsw/minsw/cmd/minsw/internal/format"
	"github.com/minsw/minsw/cmd/minsw/internal/inspect"
	minswv1 "github.com/minsw/minsw/proto/minsw/v1"
)

// blobKind is what `secret` and `config` share: the same five commands over
// two object types.
type blobKind[T interface {
	ProtoReflect() protoreflect.Message
	GetId() string
	GetMeta() *minswv1.Meta
}] struct {
	word    string // "secret" or "config"
	title   string // "Secret" or "Config"
	driver  bool   // ls shows a DRIVER column (secrets)
	create  func(cl *client.Client, cmd *cobra.Command, name string, labels map[string]string, data []byte) (T, error)
	list    func(cl *client.Client, cmd *cobra.Command) ([]T, error)
	get     func(cl *client.Client, cmd *cobra.Command, ref string) (T, error)
	remove  func(cl *client.Client, cmd *cobra.Command, ref string) error
	name    func(T) string
	inspect func(T) inspect.Object
}

// NewSecretCommand is `minsw secret`.
func NewSecretCommand(c *cli.CLI) *cobra.Command {
	k := blobKind[*minswv1.Secret]{
		word: "secret", title: "Secret", driver: true,
		create: func(cl *client.Client, cmd *cobra.Command, name string, labels map[string]string, data []byte) (*minswv1.Secret, error) {
			r, err := cl.Control.CreateSecret(cmd.Context(), &minswv1.CreateSecretRequest{Spec: &minswv1.SecretSpec{Name: name, Labels: labels, Data: data}})
			return r.GetSecret(), err
		},
		list: func(cl *client.Client, cmd *cobra.Command) ([]*minswv1.Secret, error) {
			r, err := cl.Control.ListSecrets(cmd.Context(), &minswv1.ListSecretsRequest{})
			return r.GetSecrets(), err
		},
		get: func(cl *client.Client, cmd *cobra.Command, ref string) (*minswv1.Secret, error) {
			r, err := cl.Control.GetSecret(cmd.Context(), &minswv1.GetSecretRequest{Ref: ref})
			return r.GetSecret(), err
		},
		remove: func(cl *client.Client, cmd *cobra.Command, ref string) error {
			_, err := cl.Control.RemoveSecret(cmd.Context(), &minswv1.RemoveSecretRequest{Ref: ref})
			return err
		},
		name:    func(s *minswv1.Secret) string { return s.GetSpec().GetName() },
		inspect: func(s *minswv1.Secret) inspect.Object { return inspect.DockerObject(s.ProtoReflect()) },
	}
	return k.command(c, "Manage Swarm secrets")
}

// NewConfigCommand is `minsw config`.
func NewConfigCommand(c *cli.CLI) *cobra.Command {
	k := blobKind[*minswv1.Config]{
		word: "config", title: "Config",
		create: func(cl *client.Client, cmd *cobra.Command, name string, labels map[string]string, data []byte) (*minswv1.Config, error) {
			r, err := cl.Control.CreateConfig(cmd.Context(), &minswv1.CreateConfigRequest{Spec: &minswv1.ConfigSpec{Name: name, Labels: labels, Data: data}})
			return r.GetConfig(), err
		},
		list: func(cl *client.Client, cmd *cobra.Command) ([]*minswv1.Config, error) {
			r, err := cl.Control.ListConfigs(cmd.Context(), &minswv1.ListConfigsRequest{})
			return r.GetConfigs(), err
		},
		get: func(cl *client.Client, cmd *cobra.Command, ref string) (*minswv1.Config, error) {
			r, err := cl.Control.GetConfig(cmd.Context(), &minswv1.GetConfigRequest{Ref: ref})
			return r.GetConfig(), err
		},
		remove: func(cl *client.Client, cmd *cobra.Command, ref string) error {
			_, err := cl.Control.RemoveConfig(cmd.Context(), &minswv1.RemoveConfigRequest{Ref: ref})
			return err
		},
		name: func(s *minswv1.Config) string { return s.GetSpec().GetName() },
		inspect: func(s *minswv1.Config) inspect.Object {
			// docker shows a config's data base64-encoded, as JSON does []byte.
			o := inspect.DockerObject(s.ProtoReflect())
			for i, f := range o {
				if f.Key != "Spec" {
					continue
				}
				spec := f.Value.(inspect.Object)
				for j, sf := range spec {
					if sf.Key == "Data" {
						spec[j].Value = base64.StdEncoding.EncodeToString(s.GetSpec().GetData())
					}
				}
				o[i].Value = spec
			}
			return o
		},
	}
	return k.command(c, "Manage Swarm configs")
}

func (k blobKind[T]) command(c *cli.CLI, short string) *cobra.Command {
	cmd := &cobra.Command{Use: k.word, Short: short, Args: cli.NoArgs}
	cmd.AddCommand(k.createCommand(c), k.listCommand(c), k.inspectCommand(c), k.removeCommand(c))
	return cmd
}

// readBlob reads a create command's data from a file, or stdin for "-".
func readBlob(c *cli.CLI, word, file string, limit int) ([]byte, error) {
	var r io.Reader
	if file == "-" {
		r = c.In
	} else {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("error reading content from %q: %v", file, unwrapPathError(err))
		}
		defer f.Close()
		r = f
	}
	// Read one byte past the limit so the daemon, not the CLI, says what
	// is wrong with a large one, and the CLI never holds more than that.
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("error reading content from %q: %v", file, err)
	}
	return data, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (k blobKind[T]) createCommand(c *cli.CLI) *cobra.Command {
	var labels []string
	var driver, templateDriver string
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("create [OPTIONS] %s file|-", strings.ToUpper(k.word)),
		Short: fmt.Sprintf("Create a %s from a file or STDIN as content", k.word),
		Args:  cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if driver != "" {
				return fmt.Errorf("--driver is not supported: minsw keeps %ss in the swarm's raft store, sealed at rest; there are no %s drivers", k.word, k.word)
			}
			if templateDriver != "" {
				return fmt.Errorf("--template-driver is not supported: minsw %ss are not templates; their content is used as it is", k.word)
			}
			cl, err := c.Client()
			if err != nil {
				return err
			}
			limit := 1000 * 1024
			if k.word == "secret" {
				limit = 500 * 1024
			}
			data, err := readBlob(c, k.word, args[1], limit)
			if err != nil {
				return err
			}
			obj, err := k.create(cl, cmd, args[0], cli.ParseKV(labels), data)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, obj.GetId())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&labels, "label", "l", nil, fmt.Sprintf("%s labels", k.title))
	if k.word == "secret" {
		f.StringVarP(&driver, "driver", "d", "", "Secret driver (not supported)")
	}
	f.StringVar(&templateDriver, "template-driver", "", "Template driver (not supported)")
	return cmd
}

type blobRow struct {
	ID, Name, Driver, CreatedAt, UpdatedAt, Labels string
}

func (k blobKind[T]) table() format.Table {
	def := "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
	if k.driver {
		def = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
	}
	return format.Table{
		Default: def,
		Quiet:   "{{.ID}}",
		Headers: map[string]string{"ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED", "Labels": "LABELS"},
	}
}

func (k blobKind[T]) listCommand(c *cli.CLI) *cobra.Command {
	var quiet bool
	var tmpl string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   fmt.Sprintf("List %ss", k.word),
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			objs, err := k.list(cl, cmd)
			if err != nil {
				return err
			}
			now := c.Now()
			rows := make([]any, len(objs))
			for i, o := range objs {
				var labels map[string]string
				if l, ok := any(o).(interface{ GetSpec() *minswv1.SecretSpec }); ok {
					labels = l.GetSpec().GetLabels()
				} else if l, ok := any(o).(interface{ GetSpec() *minswv1.ConfigSpec }); ok {
					labels = l.GetSpec().GetLabels()
				}
				rows[i] = blobRow{
					ID: o.GetId(), Name: k.name(o),
					CreatedAt: format.Ago(now, cli.AsTime(o.GetMeta().GetCreatedAt())),
					UpdatedAt: format.Ago(now, cli.AsTime(o.GetMeta().GetUpdatedAt())),
					Labels:    cli.LabelString(labels),
				}
			}
			return k.table().Write(c.Out, tmpl, quiet, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	cmd.Flags().StringVar(&tmpl, "format", "", "Format output using a Go template")
	return cmd
}

func (k blobKind[T]) inspectCommand(c *cli.CLI) *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("inspect [OPTIONS] %s [%s...]", k.word, k.word),
		Short: fmt.Sprintf("Display detailed information on one or more %ss", k.word),
		Args:  cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			objs, errs := cli.EachRef(args, func(ref string) (T, error) { return k.get(cl, cmd, ref) })
			if pretty {
				for i, o := range objs {
					if i > 0 {
						fmt.Fprintln(c.Out)
					}
					fmt.Fprintf(c.Out, "ID:              %s\nName:              %s\n", o.GetId(), k.name(o))
					if k.driver {
						fmt.Fprintln(c.Out, "Driver:")
					}
					fmt.Fprintf(c.Out, "Created at:        %s\nUpdated at:        %s\n",
						cli.AsTime(o.GetMeta().GetCreatedAt()).Format(time.RFC3339Nano), cli.AsTime(o.GetMeta().GetUpdatedAt()).Format(time.RFC3339Nano))
					if cfg, ok := any(o).(*minswv1.Config); ok {
						fmt.Fprintf(c.Out, "Data:\n%s\n", cfg.GetSpec().GetData())
					}
				}
				return errs
			}
			out := make([]any, len(objs))
			for i, o := range objs {
				out[i] = k.inspect(o)
			}
			if err := inspect.WriteJSON(c.Out, out); err != nil {
				return err
			}
			return errs
		},
	}
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

func (k blobKind[T]) removeCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:     fmt.Sprintf("rm %s [%s...]", strings.ToUpper(k.word), k.word),
		Aliases: []string{"remove"},
		Short:   fmt.Sprintf("Remove one or more %ss", k.word),
		Args:    cli.MinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.Client()
			if err != nil {
				return err
			}
			return c.RemoveEach(args, func(ref string) error { return k.remove(cl, cmd, ref) })
		},
	}
}
