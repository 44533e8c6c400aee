package store

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// Table names.
const (
	TableNode    = "node"
	TableNetwork = "network"
	TableService = "service"
	TableTask    = "task"
	TableCluster = "cluster"
	TableSecret  = "secret"
	TableConfig  = "config"
)

// Index names.
const (
	indexID   = "id"
	indexName = "name"
	// indexKey is the idempotency key of the create that made an object
	// (Meta.idempotency_key), in the tables whose creates carry one.
	indexKey = "idempotency"
)

// Object is what every table holds.
type Object interface {
	GetId() string
	GetMeta() *api.Meta
}

// stringIndexer indexes objects by one string the accessor picks out; it is
// written out rather than reflected because the scheduler benchmark inserts
// 100,000 tasks and reflection would dominate.
type stringIndexer struct {
	get func(obj any) (string, bool)
}

func (ix stringIndexer) FromObject(obj any) (bool, []byte, error) {
	s, ok := ix.get(obj)
	if !ok || s == "" {
		return false, nil, nil
	}
	return true, append([]byte(s), 0), nil
}

func (ix stringIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("store: index wants one argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("store: index argument %v is not a string", args[0])
	}
	return append([]byte(s), 0), nil
}

func (ix stringIndexer) PrefixFromArgs(args ...any) ([]byte, error) {
	b, err := ix.FromArgs(args...)
	if err != nil {
		return nil, err
	}
	return b[:len(b)-1], nil
}

func idIndex() *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: indexID, Unique: true, Indexer: stringIndexer{get: func(o any) (string, bool) {
		return o.(Object).GetId(), true
	}}}
}

func keyIndex() *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: indexKey, AllowMissing: true, Indexer: stringIndexer{get: func(o any) (string, bool) {
		return o.(Object).GetMeta().GetIdempotencyKey(), true
	}}}
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		TableNode: {Name: TableNode, Indexes: map[string]*memdb.IndexSchema{indexID: idIndex()}},
		TableNetwork: {Name: TableNetwork, Indexes: map[string]*memdb.IndexSchema{
			indexKey: keyIndex(),
			indexID:  idIndex(),
			indexName: {Name: indexName, Unique: true, Indexer: stringIndexer{get: func(o any) (string, bool) {
				return o.(*api.Network).GetSpec().GetName(), true
			}}},
		}},
		TableService: {Name: TableService, Indexes: map[string]*memdb.IndexSchema{
			indexKey:   keyIndex(),
			indexID:    idIndex(),
			indexHolds: {Name: indexHolds, AllowMissing: true, Indexer: holdsIndexer{}},
			indexName: {Name: indexName, Unique: true, Indexer: stringIndexer{get: func(o any) (string, bool) {
				return o.(*api.Service).GetSpec().GetName(), true
			}}},
		}},
		// Tasks are kept in a taskTable, not here (see tasktable.go).
		TableCluster: {Name: TableCluster, Indexes: map[string]*memdb.IndexSchema{indexID: idIndex()}},
		TableSecret: {Name: TableSecret, Indexes: map[string]*memdb.IndexSchema{
			indexKey: keyIndex(),
			indexID:  idIndex(),
			indexName: {Name: indexName, Unique: true, Indexer: stringIndexer{get: func(o any) (string, bool) {
				return o.(*api.Secret).GetSpec().GetName(), true
			}}},
		}},
		TableConfig: {Name: TableConfig, Indexes: map[string]*memdb.IndexSchema{
			indexKey: keyIndex(),
			indexID:  idIndex(),
			indexName: {Name: indexName, Unique: true, Indexer: stringIndexer{get: func(o any) (string, bool) {
				return o.(*api.Config).GetSpec().GetName(), true
			}}},
		}},
	}}
}

// tableOf names the table an object belongs to.
func tableOf(o Object) string {
	switch o.(type) {
	case *api.Node:
		return TableNode
	case *api.Network:
		return TableNetwork
	case *api.Service:
		return TableService
	case *api.Task:
		return TableTask
	case *api.Cluster:
		return TableCluster
	case *api.Secret:
		return TableSecret
	case *api.Config:
		return TableConfig
	}
	panic(fmt.Sprintf("store: no table for %T", o))
}

// nameOf returns the unique name of objects whose table keeps one.
func nameOf(o Object) (string, bool) {
	switch v := o.(type) {
	case *api.Network:
		return v.GetSpec().GetName(), true
	case *api.Service:
		return v.GetSpec().GetName(), true
	case *api.Secret:
		return v.GetSpec().GetName(), true
	case *api.Config:
		return v.GetSpec().GetName(), true
	}
	return "", false
}

func actionObject(a *api.StoreAction) (Object, error) {
	switch t := a.Target.(type) {
	case *api.StoreAction_Node:
		return t.Node, nil
	case *api.StoreAction_Network:
		return t.Network, nil
	case *api.StoreAction_Service:
		return t.Service, nil
	case *api.StoreAction_Task:
		return t.Task, nil
	case *api.StoreAction_Cluster:
		return t.Cluster, nil
	case *api.StoreAction_Secret:
		return t.Secret, nil
	case *api.StoreAction_Config:
		return t.Config, nil
	}
	return nil, fmt.Errorf("store: action without an object")
}

func newAction(kind api.StoreActionKind, o Object) *api.StoreAction {
	a := &api.StoreAction{Kind: kind}
	switch v := o.(type) {
	case *api.Node:
		a.Target = &api.StoreAction_Node{Node: v}
	case *api.Network:
		a.Target = &api.StoreAction_Network{Network: v}
	case *api.Service:
		a.Target = &api.StoreAction_Service{Service: v}
	case *api.Task:
		a.Target = &api.StoreAction_Task{Task: v}
	case *api.Cluster:
		a.Target = &api.StoreAction_Cluster{Cluster: v}
	case *api.Secret:
		a.Target = &api.StoreAction_Secret{Secret: v}
	case *api.Config:
		a.Target = &api.StoreAction_Config{Config: v}
	default:
		panic(fmt.Sprintf("store: no action for %T", o))
	}
	return a
}
