package convert

import (
	"strconv"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// EventFilterKeys are the keys GET /events accepts.
var EventFilterKeys = []string{"config", "container", "event", "label", "network", "node", "scope", "secret", "service", "type"}

// Event is a committed change as `docker events` shows it, with the
// object's labels (for the label filter); ok is false for what docker's
// events do not carry.
func Event(ev *api.WatchEvent) (msg events.Message, objLabels map[string]string, ok bool) {
	var id, name string
	switch o := ev.GetObject().(type) {
	case *api.WatchEvent_Node:
		msg.Type, id, name, objLabels = events.NodeEventType, o.Node.GetId(), o.Node.GetDescription().GetHostname(), o.Node.GetSpec().GetLabels()
	case *api.WatchEvent_Service:
		msg.Type, id, name, objLabels = events.ServiceEventType, o.Service.GetId(), o.Service.GetSpec().GetName(), o.Service.GetSpec().GetLabels()
	case *api.WatchEvent_Network:
		msg.Type, id, name, objLabels = events.NetworkEventType, o.Network.GetId(), o.Network.GetSpec().GetName(), o.Network.GetSpec().GetLabels()
	case *api.WatchEvent_Secret:
		msg.Type, id, name, objLabels = events.SecretEventType, o.Secret.GetId(), o.Secret.GetSpec().GetName(), o.Secret.GetSpec().GetLabels()
	case *api.WatchEvent_Config:
		msg.Type, id, name, objLabels = events.ConfigEventType, o.Config.GetId(), o.Config.GetSpec().GetName(), o.Config.GetSpec().GetLabels()
	default:
		return msg, nil, false
	}
	msg.Action = events.Action(ev.GetAction())
	msg.Actor = events.Actor{ID: id, Attributes: map[string]string{"name": name}}
	msg.Scope = "swarm"
	t := ev.GetTime().AsTime()
	msg.Time, msg.TimeNano = t.Unix(), t.UnixNano()
	return msg, objLabels, true
}

// ContainerEvent is a change of one of this node's task containers as
// `docker events` shows it: its attributes are the container's labels,
// name and image (and exitCode on die), and its labels for the label
// filter.
func ContainerEvent(ev *api.ContainerEvent) (msg events.Message, objLabels map[string]string) {
	objLabels = ContainerLabels(ev.GetLabels())
	attrs := make(map[string]string, len(objLabels)+3)
	for k, v := range objLabels {
		attrs[k] = v
	}
	attrs["name"], attrs["image"] = ev.GetName(), ev.GetImage()
	if ev.GetAction() == "die" {
		attrs["exitCode"] = strconv.Itoa(int(ev.GetExitCode()))
	}
	msg.Type, msg.Action, msg.Scope = events.ContainerEventType, events.Action(ev.GetAction()), "local"
	msg.Actor = events.Actor{ID: ev.GetId(), Attributes: attrs}
	t := ev.GetTime().AsTime()
	msg.Time, msg.TimeNano = t.Unix(), t.UnixNano()
	return msg, objLabels
}

// MatchEvent says whether msg passes the event filters: type, event
// (action), scope, labels, and per type the object's name or ID (or a
// prefix of either).
func MatchEvent(args filters.Args, msg events.Message, objLabels map[string]string) bool {
	if !anyExact(args, "type", string(msg.Type)) || !anyExact(args, "event", string(msg.Action)) ||
		!anyExact(args, "scope", msg.Scope) || !args.MatchKVList("label", objLabels) {
		return false
	}
	for _, key := range []events.Type{events.ServiceEventType, events.NodeEventType, events.NetworkEventType, events.SecretEventType, events.ConfigEventType, events.ContainerEventType} {
		vals := args.Get(string(key))
		if len(vals) == 0 {
			continue
		}
		if msg.Type != key {
			return false
		}
		// As docker's: the ID or the name, whole or a prefix of it (the
		// short ID docker ps shows).
		if !args.FuzzyMatch(string(key), msg.Actor.ID) && !args.FuzzyMatch(string(key), msg.Actor.Attributes["name"]) {
			return false
		}
	}
	return true
}
