package store

import (
	"github.com/minsw/minsw/internal/errdefs"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// kindNames are the words error messages use for a table's objects.
var kindNames = map[string]string{
	TableNode: "node", TableNetwork: "network", TableService: "service", TableTask: "task", TableCluster: "cluster",
	TableSecret: "secret", TableConfig: "config",
}

// Resolve finds the one object of table that ref names: its full ID, its
// name (services, networks; hostname for nodes), or a unique ID prefix, in
// that order of precedence, as docker resolves references.
func (tx ReadTx) Resolve(table, ref string) (Object, error) {
	kind := kindNames[table]
	if ref == "" {
		return nil, errdefs.InvalidArgument("no %s name or ID given", kind)
	}
	if table == TableTask {
		if t := tx.Task(ref); t != nil {
			return t, nil
		}
	} else if raw, err := tx.txn.First(table, indexID, ref); err == nil && raw != nil {
		return raw.(Object), nil
	}
	switch table {
	case TableService, TableNetwork, TableSecret, TableConfig:
		if raw, err := tx.txn.First(table, indexName, ref); err == nil && raw != nil {
			return raw.(Object), nil
		}
	case TableNode:
		var match []Object
		for _, n := range tx.Nodes() {
			if n.GetDescription().GetHostname() == ref {
				match = append(match, n)
			}
		}
		if len(match) == 1 {
			return match[0], nil
		}
		if len(match) > 1 {
			return nil, errdefs.FailedPrecondition("node %s is ambiguous (%d matches found)", ref, len(match))
		}
	}
	found := tx.ByIDPrefix(table, ref)
	switch len(found) {
	case 0:
		return nil, errdefs.NotFound("%s %s not found", kind, ref)
	case 1:
		return found[0], nil
	}
	return nil, errdefs.FailedPrecondition("%s %s is ambiguous (%d matches found)", kind, ref, len(found))
}

func resolveAs[T Object](tx ReadTx, table, ref string) (T, error) {
	o, err := tx.Resolve(table, ref)
	if err != nil {
		var zero T
		return zero, err
	}
	return o.(T), nil
}

func (tx ReadTx) ResolveNode(ref string) (*api.Node, error) {
	return resolveAs[*api.Node](tx, TableNode, ref)
}
func (tx ReadTx) ResolveNetwork(ref string) (*api.Network, error) {
	return resolveAs[*api.Network](tx, TableNetwork, ref)
}
func (tx ReadTx) ResolveService(ref string) (*api.Service, error) {
	return resolveAs[*api.Service](tx, TableService, ref)
}
func (tx ReadTx) ResolveTask(ref string) (*api.Task, error) {
	return resolveAs[*api.Task](tx, TableTask, ref)
}
