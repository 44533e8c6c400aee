package gossip

// hostnameMeta is the node metadata memberlist sends: the hostname, cut
// to memberlist's limit.
func hostnameMeta(hostname string, limit int) []byte {
	if len(hostname) > limit {
		hostname = hostname[:limit]
	}
	return []byte(hostname)
}

// NetworkMembers lists the live nodes that take part in network, this one
// included when it joined: the Peers of docker's `network inspect`.
func (d *DB) NetworkMembers(network string) []Member {
	on := map[string]bool{}
	d.mu.Lock()
	for _, n := range d.t.peersOn(network) {
		on[n] = true
	}
	if _, ok := d.t.nets[network]; ok {
		on[d.cfg.NodeName] = true
	}
	d.mu.Unlock()
	var out []Member
	for _, m := range d.Members() {
		if on[m.Name] {
			out = append(out, m)
		}
	}
	return out
}
