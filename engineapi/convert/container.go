package convert

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// HumanDuration is docker's wording of an age ("About a minute", "3 hours").
func HumanDuration(d time.Duration) string {
	seconds := int(d.Seconds())
	switch {
	case seconds < 1:
		return "Less than a second"
	case seconds == 1:
		return "1 second"
	case seconds < 60:
		return fmt.Sprintf("%d seconds", seconds)
	}
	minutes := int(d.Minutes())
	switch {
	case minutes == 1:
		return "About a minute"
	case minutes < 60:
		return fmt.Sprintf("%d minutes", minutes)
	}
	hours := int(math.Round(d.Hours()))
	switch {
	case hours == 1:
		return "About an hour"
	case hours < 48:
		return fmt.Sprintf("%d hours", hours)
	case hours < 24*7*2:
		return fmt.Sprintf("%d days", hours/24)
	case hours < 24*30*2:
		return fmt.Sprintf("%d weeks", hours/24/7)
	case hours < 24*365*2:
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

func containerState(c *api.Container) container.ContainerState {
	switch c.GetState() {
	case "running":
		return container.StateRunning
	case "created":
		return container.StateCreated
	case "paused":
		return container.StatePaused
	}
	return container.StateExited
}

var healthWords = map[api.HealthState]string{
	api.HealthState_HEALTH_STATE_STARTING:  container.Starting,
	api.HealthState_HEALTH_STATE_HEALTHY:   container.Healthy,
	api.HealthState_HEALTH_STATE_UNHEALTHY: container.Unhealthy,
}

// ContainerStatus is docker's STATUS column: "Up 5 minutes (healthy)",
// "Exited (0) 3 seconds ago", "Created".
func ContainerStatus(c *api.Container, now time.Time) string {
	switch containerState(c) {
	case container.StateRunning:
		s := "Up " + HumanDuration(now.Sub(ts(c.GetStartedAt())))
		if h, ok := healthWords[c.GetHealth()]; ok {
			if h == container.Starting {
				h = "health: starting"
			}
			s += " (" + h + ")"
		}
		return s
	case container.StateCreated:
		return "Created"
	}
	if c.GetFinishedAt() == nil {
		return fmt.Sprintf("Exited (%d)", c.GetExitCode())
	}
	return fmt.Sprintf("Exited (%d) %s ago", c.GetExitCode(), HumanDuration(now.Sub(ts(c.GetFinishedAt()))))
}

func command(c *api.Container) string { return strings.Join(c.GetCommand(), " ") }

// ContainerSummary is one row of GET /containers/json; v (nil on a
// worker) adds its task's networks and mounts.
func ContainerSummary(c *api.Container, now time.Time, v *TaskView) container.Summary {
	out := container.Summary{
		ID:      c.GetId(),
		Names:   []string{"/" + c.GetName()},
		Image:   c.GetImage(),
		Command: command(c),
		Created: ts(c.GetCreatedAt()).Unix(),
		Ports:   []container.Port{},
		Labels:  ContainerLabels(c.GetLabels()),
		State:   containerState(c),
		Status:  ContainerStatus(c, now),
		Mounts:  []container.MountPoint{},
	}
	out.HostConfig.NetworkMode = "default"
	if t := v.task(c); t != nil {
		out.NetworkSettings = &container.NetworkSettingsSummary{Networks: containerNetworks(v, t)}
		out.Mounts = containerMounts(v, t)
		out.Ports = containerPorts(t)
	}
	return out
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ContainerInspect is GET /containers/{id}/json for a task's container;
// v (nil on a worker) adds its task's networks and mounts.
func ContainerInspect(c *api.Container, v *TaskView) container.InspectResponse {
	st := containerState(c)
	state := &container.State{
		Status:     st,
		Running:    st == container.StateRunning,
		Paused:     st == container.StatePaused,
		Dead:       false,
		Pid:        int(c.GetPid()),
		ExitCode:   int(c.GetExitCode()),
		StartedAt:  rfc3339(ts(c.GetStartedAt())),
		FinishedAt: rfc3339(ts(c.GetFinishedAt())),
	}
	if h, ok := healthWords[c.GetHealth()]; ok {
		state.Health = &container.Health{Status: h, FailingStreak: int(c.GetFailingStreak())}
		for _, p := range c.GetHealthLog() {
			state.Health.Log = append(state.Health.Log, &container.HealthcheckResult{Start: ts(p.GetStart()), End: ts(p.GetEnd()), ExitCode: int(p.GetExitCode()), Output: p.GetOutput()})
		}
	}
	base := &container.ContainerJSONBase{
		ID:         c.GetId(),
		Created:    rfc3339(ts(c.GetCreatedAt())),
		State:      state,
		Image:      c.GetImage(),
		Name:       "/" + c.GetName(),
		Driver:     "overlayfs",
		Platform:   "linux",
		HostConfig: &container.HostConfig{NetworkMode: "default"},
	}
	if cmd := c.GetCommand(); len(cmd) > 0 {
		base.Path, base.Args = cmd[0], cmd[1:]
	}
	out := container.InspectResponse{
		ContainerJSONBase: base,
		Mounts:            []container.MountPoint{},
		Config:            &container.Config{Image: c.GetImage(), Cmd: c.GetCommand(), Labels: ContainerLabels(c.GetLabels())},
		NetworkSettings:   &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}},
	}
	if t := v.task(c); t != nil {
		out.NetworkSettings.Networks = containerNetworks(v, t)
		out.Mounts = containerMounts(v, t)
		out.Config.Env = t.GetSpec().GetContainer().GetEnv()
		out.Config.Hostname = t.GetSpec().GetContainer().GetHostname()
		out.Config.Tty = t.GetSpec().GetContainer().GetTty()
		hostConfigOf(out.HostConfig, t)
		out.NetworkSettings.Ports = portMap(containerPorts(t))
		out.HostConfig.PortBindings = portMap(containerPorts(t))
	}
	return out
}

// ContainerFilterKeys are the keys GET /containers/json accepts.
var ContainerFilterKeys = []string{"ancestor", "before", "exited", "expose", "health", "id", "is-task", "label", "name", "network", "publish", "since", "status", "volume"}

// MatchContainer says whether c passes the container filters: id prefix,
// name substring (as docker), labels, status, exit code, health, the image
// it runs (ancestor), whether it is a task's, and (from its task in v) the
// networks it is on and the volumes or paths it mounts.
func MatchContainer(args filters.Args, c *api.Container, v *TaskView) bool {
	if names := args.Get("name"); len(names) > 0 {
		ok := false
		for _, n := range names {
			if strings.Contains(c.GetName(), strings.TrimPrefix(n, "/")) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if !anyPrefix(args, "id", c.GetId()) || !anyExact(args, "status", string(containerState(c))) ||
		!args.MatchKVList("label", ContainerLabels(c.GetLabels())) {
		return false
	}
	if args.Contains("exited") && (containerState(c) != container.StateExited || !anyExact(args, "exited", strconv.Itoa(int(c.GetExitCode())))) {
		return false
	}
	health := healthWords[c.GetHealth()]
	if health == "" {
		health = container.NoHealthcheck
	}
	if !anyExact(args, "health", health) {
		return false
	}
	_, isTask := c.GetLabels()["minsw.task.id"]
	if !anyExact(args, "is-task", strconv.FormatBool(isTask)) {
		return false
	}
	if vals := args.Get("ancestor"); len(vals) > 0 && !slices.ContainsFunc(vals, func(a string) bool { return sameImage(a, c.GetImage()) }) {
		return false
	}
	t := v.task(c)
	for key, public := range map[string]bool{"publish": true, "expose": false} {
		if vals := args.Get(key); len(vals) > 0 && !slices.ContainsFunc(vals, func(p string) bool { return portMatches(containerPorts(t), p, public) }) {
			return false
		}
	}
	if vals := args.Get("network"); len(vals) > 0 {
		ok := false
		for _, a := range t.GetNetworks() {
			id := a.GetNetworkId()
			if slices.ContainsFunc(vals, func(n string) bool {
				return n == id || n == v.Networks[id] || (len(n) >= 12 && strings.HasPrefix(id, n))
			}) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if vals := args.Get("volume"); len(vals) > 0 {
		ok := false
		for _, m := range t.GetSpec().GetContainer().GetMounts() {
			if slices.Contains(vals, m.GetTarget()) || (m.GetSource() != "" && slices.Contains(vals, m.GetSource())) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// sameImage says whether the ancestor filter's image names the one a
// container runs: the same reference, with or without its :latest tag or
// @digest.
func sameImage(filter, image string) bool {
	norm := func(ref string) string {
		if i := strings.Index(ref, "@"); i >= 0 {
			ref = ref[:i]
		}
		if i := strings.LastIndex(ref, ":"); i < 0 || strings.Contains(ref[i:], "/") {
			ref += ":latest"
		}
		return strings.TrimPrefix(strings.TrimPrefix(ref, "docker.io/"), "library/")
	}
	return filter == image || norm(filter) == norm(image)
}

// hostConfigOf fills what a task's spec says of its container's limits and
// options, where docker's inspect shows them (HostConfig.Memory,
// NanoCpus, PidsLimit, ReadonlyRootfs, Init, CapAdd, CapDrop).
func hostConfigOf(hc *container.HostConfig, t *api.Task) {
	l := t.GetSpec().GetResources().GetLimits()
	hc.Memory, hc.NanoCPUs = l.GetMemoryBytes(), l.GetNanoCpus()
	if p := l.GetPids(); p > 0 {
		hc.PidsLimit = &p
	}
	ct := t.GetSpec().GetContainer()
	hc.ReadonlyRootfs = ct.GetReadOnly()
	if ct.GetInit() {
		init := true
		hc.Init = &init
	}
	hc.CapAdd, hc.CapDrop = ct.GetCapAdd(), ct.GetCapDrop()
}
