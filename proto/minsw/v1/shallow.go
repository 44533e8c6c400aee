package minswv1

// Shallow is a new Task holding x's fields and sharing all of its
// sub-messages and lists (meta, spec, status, networks, endpoint). Stored
// tasks are never changed in place, so a writer or reader that replaces
// only some fields (a placement's node and status, a runner's status) may
// take such a copy instead of a deep clone, which at 100,000 tasks costs a
// large part of a scheduling pass or a node's task listing.
// TestShallowCopiesEveryField fails when Task gains a field this does not
// copy.
func (x *Task) Shallow() *Task {
	return &Task{
		Id:             x.Id,
		Meta:           x.Meta,
		Spec:           x.Spec,
		ServiceId:      x.ServiceId,
		Slot:           x.Slot,
		NodeId:         x.NodeId,
		Status:         x.Status,
		DesiredState:   x.DesiredState,
		Networks:       x.Networks,
		ServiceName:    x.ServiceName,
		SpecVersion:    x.SpecVersion,
		Endpoint:       x.Endpoint,
		StartAfterStop: x.StartAfterStop,
	}
}
