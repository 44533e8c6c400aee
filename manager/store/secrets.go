package store

import api "github.com/minsw/minsw/proto/minsw/v1"

// Reads of the secret and config tables. Stored secrets carry their data:
// only the Control API strips it from what it returns.

func (tx ReadTx) Secret(id string) *api.Secret { return get[*api.Secret](tx, TableSecret, indexID, id) }
func (tx ReadTx) SecretByName(name string) *api.Secret {
	return get[*api.Secret](tx, TableSecret, indexName, name)
}
func (tx ReadTx) Secrets() []*api.Secret       { return list[*api.Secret](tx, TableSecret, indexID) }
func (tx ReadTx) Config(id string) *api.Config { return get[*api.Config](tx, TableConfig, indexID, id) }
func (tx ReadTx) ConfigByName(name string) *api.Config {
	return get[*api.Config](tx, TableConfig, indexName, name)
}
func (tx ReadTx) Configs() []*api.Config { return list[*api.Config](tx, TableConfig, indexID) }

func (tx ReadTx) ResolveSecret(ref string) (*api.Secret, error) {
	return resolveAs[*api.Secret](tx, TableSecret, ref)
}
func (tx ReadTx) ResolveConfig(ref string) (*api.Config, error) {
	return resolveAs[*api.Config](tx, TableConfig, ref)
}
