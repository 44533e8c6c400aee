package stack

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/minsw/minsw/internal/errdefs"
)

// fakeCluster keeps objects in maps and records the calls, in order.
type fakeCluster struct {
	mu      sync.Mutex
	n       int
	objects map[string]map[string]Object // kind -> id -> object
	specs   map[string]swarm.ServiceSpec
	calls   []string
	failOn  string // a call ("create service s_web") that fails
	// unknownOn is a call that is applied but answers an error, as a write
	// whose outcome the client could not learn.
	unknownOn string
}

func newFake() *fakeCluster {
	return &fakeCluster{objects: map[string]map[string]Object{"network": {}, "secret": {}, "config": {}, "service": {}}, specs: map[string]swarm.ServiceSpec{}}
}

func (f *fakeCluster) create(kind, name string, labels map[string]string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := "create " + kind + " " + name
	f.calls = append(f.calls, call)
	if call == f.failOn {
		return "", errdefs.InvalidArgument("%s refused", name)
	}
	f.n++
	id := fmt.Sprintf("%s%d", kind[:3], f.n)
	f.objects[kind][id] = Object{ID: id, Name: name, Labels: labels, Version: 1}
	if call == f.unknownOn {
		return "", fmt.Errorf("the request may or may not have been applied")
	}
	return id, nil
}

func (f *fakeCluster) remove(kind, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := ref
	for oid, o := range f.objects[kind] {
		if o.Name == ref {
			id = oid
		}
	}
	o, ok := f.objects[kind][id]
	if !ok {
		return errdefs.NotFound("no %s %s", kind, id)
	}
	f.calls = append(f.calls, "remove "+kind+" "+o.Name)
	delete(f.objects[kind], id)
	return nil
}

func (f *fakeCluster) CreateNetwork(_ context.Context, name string, o network.CreateOptions) (string, error) {
	return f.create("network", name, o.Labels)
}
func (f *fakeCluster) RemoveNetwork(_ context.Context, id string) error {
	return f.remove("network", id)
}
func (f *fakeCluster) CreateSecret(_ context.Context, s File) (string, error) {
	return f.create("secret", s.Name, s.Labels)
}
func (f *fakeCluster) RemoveSecret(_ context.Context, id string) error { return f.remove("secret", id) }
func (f *fakeCluster) CreateConfig(_ context.Context, s File) (string, error) {
	return f.create("config", s.Name, s.Labels)
}
func (f *fakeCluster) RemoveConfig(_ context.Context, id string) error { return f.remove("config", id) }
func (f *fakeCluster) CreateService(_ context.Context, spec swarm.ServiceSpec) (string, error) {
	id, err := f.create("service", spec.Name, spec.Labels)
	if err == nil {
		f.mu.Lock()
		f.specs[id] = spec
		f.mu.Unlock()
	}
	return id, err
}
func (f *fakeCluster) UpdateService(_ context.Context, id string, version uint64, spec swarm.ServiceSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.objects["service"][id]
	f.calls = append(f.calls, "update service "+o.Name)
	if o.Version != version {
		return errdefs.Conflict("update out of sequence")
	}
	if !reflect.DeepEqual(f.specs[id], spec) {
		o.Version++
		f.specs[id] = spec
		f.objects["service"][id] = o
	}
	return nil
}
func (f *fakeCluster) RemoveService(_ context.Context, id string) error {
	return f.remove("service", id)
}

func (f *fakeCluster) current() Current {
	list := func(kind string) []Object {
		var out []Object
		for _, o := range f.objects[kind] {
			out = append(out, o)
		}
		return out
	}
	return Current{Networks: list("network"), Secrets: list("secret"), Configs: list("config"), Services: list("service")}
}

func deploy(t *testing.T, f *fakeCluster, st *Stack, prune bool) (string, error) {
	t.Helper()
	p, err := PlanDeploy(st, f.current(), prune)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	err = Apply(context.Background(), f, p, &out)
	return out.String(), err
}

func fullStack(t *testing.T) *Stack {
	st := loadFull(t)
	return st
}

func TestFirstDeployCreatesInDependencyOrderAndRedeployChangesNothing(t *testing.T) {
	f := newFake()
	// The external objects exist before the stack.
	f.create("network", "outside", nil)
	f.create("secret", "api_key", nil)
	f.calls = nil

	out, err := deploy(t, f, fullStack(t), false)
	if err != nil {
		t.Fatal(err)
	}
	want := "Creating network app_back\nCreating network app_default\nCreating network app_front\n" +
		"Creating secret app_db_password\nCreating config app_nginx_conf\n" +
		"Creating service app_job\nCreating service app_web\nCreating service app_worker\n"
	if out != want {
		t.Errorf("first deploy printed:\n%s\nwant:\n%s", out, want)
	}
	for id, spec := range f.specs {
		if spec.Name != "app_web" {
			continue
		}
		cs := spec.TaskTemplate.ContainerSpec
		if cs.Secrets[1].SecretID == "" || cs.Secrets[0].SecretID != "sec2" || cs.Configs[0].ConfigID == "" {
			t.Errorf("service %s: secret and config references carry no IDs: %+v %+v", id, cs.Secrets, cs.Configs)
		}
	}

	versions := map[string]uint64{}
	for id, o := range f.objects["service"] {
		versions[id] = o.Version
	}
	f.calls = nil
	out, err = deploy(t, f, fullStack(t), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "update service") {
			t.Errorf("redeploy of the same file made %q", c)
		}
	}
	for id, o := range f.objects["service"] {
		if o.Version != versions[id] {
			t.Errorf("redeploy changed service %s (version %d -> %d)", o.Name, versions[id], o.Version)
		}
	}
	if !strings.Contains(out, "Updating service app_web (id: ") {
		t.Errorf("redeploy printed %q", out)
	}
}

func TestChangingOneImageUpdatesOnlyThatService(t *testing.T) {
	f := newFake()
	f.create("network", "outside", nil)
	f.create("secret", "api_key", nil)
	if _, err := deploy(t, f, fullStack(t), false); err != nil {
		t.Fatal(err)
	}
	st := fullStack(t)
	for i := range st.Services {
		if st.Services[i].Name == "app_worker" {
			st.Services[i].TaskTemplate.ContainerSpec.Image = "busybox:2"
		}
	}
	if _, err := deploy(t, f, st, false); err != nil {
		t.Fatal(err)
	}
	for _, o := range f.objects["service"] {
		changed := o.Version > 1
		if changed != (o.Name == "app_worker") {
			t.Errorf("service %s at version %d", o.Name, o.Version)
		}
	}
}

func TestPruneRemovesServicesNoLongerInTheFileOnly(t *testing.T) {
	f := newFake()
	f.create("network", "outside", nil)
	f.create("secret", "api_key", nil)
	f.create("service", "other_web", map[string]string{NamespaceLabel: "other"})
	if _, err := deploy(t, f, fullStack(t), false); err != nil {
		t.Fatal(err)
	}
	st := fullStack(t)
	st.Services = st.Services[:1] // app_job only
	out, err := deploy(t, f, st, false)
	if err != nil || strings.Contains(out, "Removing") {
		t.Fatalf("without --prune: %v %q", err, out)
	}
	out, err = deploy(t, f, st, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Removing service app_web\nRemoving service app_worker\n") {
		t.Errorf("--prune printed %q", out)
	}
	var names []string
	for _, o := range f.objects["service"] {
		names = append(names, o.Name)
	}
	if len(names) != 2 {
		t.Errorf("services left: %v (want app_job and other_web)", names)
	}
}

func TestAMissingExternalNetworkMakesNothing(t *testing.T) {
	f := newFake()
	f.create("secret", "api_key", nil)
	f.calls = nil
	_, err := deploy(t, f, fullStack(t), false)
	if err == nil || !strings.Contains(err.Error(), `network "outside" is declared as external, but could not be found`) {
		t.Fatalf("err = %v", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("calls made: %v", f.calls)
	}
}

func TestAFailedDeployRemovesWhatItCreated(t *testing.T) {
	f := newFake()
	f.create("network", "outside", nil)
	f.create("secret", "api_key", nil)
	f.failOn = "create service app_web"
	_, err := deploy(t, f, fullStack(t), false)
	if err == nil || !strings.Contains(err.Error(), "failed to create service app_web") {
		t.Fatalf("err = %v", err)
	}
	left := 0
	for kind, objs := range f.objects {
		for _, o := range objs {
			if o.Name != "outside" && o.Name != "api_key" {
				t.Errorf("%s %s left behind", kind, o.Name)
			}
			left++
		}
	}
	if left != 2 {
		t.Errorf("%d objects left, want the 2 external ones", left)
	}
}

func TestAFailedDeployRemovesAServiceWhoseCreateOutcomeWasUnknown(t *testing.T) {
	f := newFake()
	f.create("network", "outside", nil)
	f.create("secret", "api_key", nil)
	f.unknownOn = "create service app_job"
	if _, err := deploy(t, f, fullStack(t), false); err == nil {
		t.Fatal("a deploy with a failed create succeeded")
	}
	for _, o := range f.objects["service"] {
		t.Errorf("service %s left behind", o.Name)
	}
}

func TestANameHeldByAnotherStackIsRefused(t *testing.T) {
	f := newFake()
	f.create("network", "outside", nil)
	f.create("secret", "api_key", nil)
	f.create("service", "app_web", map[string]string{NamespaceLabel: "elsewhere"})
	_, err := deploy(t, f, fullStack(t), false)
	if !errdefs.Is(err, errdefs.KindAlreadyExists) || !strings.Contains(err.Error(), `service "app_web" already exists`) {
		t.Fatalf("err = %v", err)
	}
}

func TestStackRmRemovesItsObjectsAndNothingElse(t *testing.T) {
	f := newFake()
	f.create("network", "outside", nil)
	f.create("secret", "api_key", nil)
	f.create("service", "other_web", map[string]string{NamespaceLabel: "other"})
	if _, err := deploy(t, f, fullStack(t), false); err != nil {
		t.Fatal(err)
	}
	if got := Names(f.current()); !reflect.DeepEqual(got, []Summary{{"app", 3}, {"other", 1}}) {
		t.Errorf("stack ls: %+v", got)
	}
	var out strings.Builder
	if err := Remove(context.Background(), f, Of("app", f.current()), &out); err != nil {
		t.Fatal(err)
	}
	want := "Removing service app_job\nRemoving service app_web\nRemoving service app_worker\n" +
		"Removing secret app_db_password\nRemoving config app_nginx_conf\n" +
		"Removing network app_back\nRemoving network app_default\nRemoving network app_front\n"
	if out.String() != want {
		t.Errorf("stack rm printed:\n%s\nwant:\n%s", out.String(), want)
	}
	var left []string
	for _, objs := range f.objects {
		for _, o := range objs {
			left = append(left, o.Name)
		}
	}
	if len(left) != 3 {
		t.Errorf("left: %v, want outside, api_key, other_web", left)
	}
}
