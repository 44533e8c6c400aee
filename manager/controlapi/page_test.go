package controlapi

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	api "github.com/minsw/minsw/proto/minsw/v1"
)

// One service of nearly the spec limit among ordinary ones: every page stays
// within the byte budget (or is that one service alone), and the pages
// together are the whole list, in name order, each service once.
func TestListServicesPagesStayUnderTheByteBudget(t *testing.T) {
	s, _ := newServer(t)
	ctx := context.Background()
	big := webSpec("big")
	for i := 0; i < 11; i++ {
		big.Task.Container.Env = append(big.Task.Container.Env, fmt.Sprintf("K%d=%s", i, strings.Repeat("b", 120_000)))
	}
	if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: big}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		sp := webSpec(fmt.Sprintf("svc%02d", i))
		sp.Task.Container.Env = []string{"PAD=" + strings.Repeat("p", 100_000)}
		if _, err := s.CreateService(ctx, &api.CreateServiceRequest{Spec: sp}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	token := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		r, err := s.ListServices(ctx, &api.ListServicesRequest{PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if n := proto.Size(r); n > PageBytes+1024 && len(r.Services) > 1 {
			t.Fatalf("page %d is %d bytes with %d services, over the %d budget", pages, n, len(r.Services), PageBytes)
		}
		for _, svc := range r.Services {
			names = append(names, svc.Spec.Name)
		}
		if token = r.NextPageToken; token == "" {
			break
		}
	}
	if len(names) != 42 || names[0] != "big" || names[1] != "svc00" || names[41] != "web" {
		t.Fatalf("pages gave %d services: %v", len(names), names)
	}
	if _, err := s.ListServices(ctx, &api.ListServicesRequest{PageToken: "%%%"}); edgeCode(err) != codes.InvalidArgument {
		t.Fatalf("bad token: %v", err)
	}
}

func TestListPageTable(t *testing.T) {
	mk := func(ids ...string) []*api.Task {
		var out []*api.Task
		for _, id := range ids {
			out = append(out, &api.Task{Id: id})
		}
		return out
	}
	key := func(t *api.Task) string { return t.GetId() }
	ids := func(ts []*api.Task) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.Id)
		}
		return strings.Join(s, ",")
	}
	// Walk c e a d b in pages of two: a,b then c,d then e.
	items := mk("c", "e", "a", "d", "b")
	var got []string
	token := ""
	for i := 0; i < 5; i++ {
		page, next, err := listPage(items, key, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page))
		if token = next; token == "" {
			break
		}
	}
	if strings.Join(got, "|") != "a,b|c,d|e" {
		t.Fatalf("pages %q", got)
	}
	// An empty list is one empty last page; a token past the end too.
	if page, next, err := listPage(mk(), key, 2, ""); len(page) != 0 || next != "" || err != nil {
		t.Fatalf("empty: %v %q %v", page, next, err)
	}
	// The item the token names was deleted meanwhile: the next page starts
	// after it all the same.
	_, next, _ := listPage(mk("a", "b", "c", "d"), key, 2, "")
	page, _, _ := listPage(mk("a", "c", "d"), key, 2, next)
	if ids(page) != "c,d" {
		t.Fatalf("after a deleted item: %s", ids(page))
	}
}
