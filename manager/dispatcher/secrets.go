package dispatcher

import (
	"sort"

	"github.com/minsw/minsw/manager/store"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

// needsFiles says whether a task's secrets and configs must be on its node:
// while it is meant to run. A task told to stop needs none (its container
// already has them, and a new one will not be made).
func needsFiles(t *api.Task) bool {
	return t.GetDesiredState() <= api.TaskState_TASK_STATE_RUNNING
}

// addFiles puts into out the secrets and configs that out's tasks reference,
// and only those, as swarmkit's dispatcher does: a node never hears of a
// secret none of its tasks uses.
func addFiles(tx store.ReadTx, out *api.Assignments) {
	secrets, configs := map[string]struct{}{}, map[string]struct{}{}
	for _, t := range out.GetTasks() {
		if !needsFiles(t) {
			continue
		}
		c := t.GetSpec().GetContainer()
		for _, r := range c.GetSecrets() {
			secrets[r.GetSecretId()] = struct{}{}
		}
		for _, r := range c.GetConfigs() {
			configs[r.GetConfigId()] = struct{}{}
		}
	}
	for _, id := range sortedKeys(secrets) {
		if s := tx.Secret(id); s != nil {
			out.Secrets = append(out.Secrets, s)
		}
	}
	for _, id := range sortedKeys(configs) {
		if c := tx.Config(id); c != nil {
			out.Configs = append(out.Configs, c)
		}
	}
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// fileIDs adds the secrets and configs of an assignment set to a fingerprint.
func fileIDs(a *api.Assignments, putV func(id string, v uint64)) {
	for _, s := range a.GetSecrets() {
		putV(s.GetId(), s.GetMeta().GetVersion())
	}
	for _, c := range a.GetConfigs() {
		putV(c.GetId(), c.GetMeta().GetVersion())
	}
}
