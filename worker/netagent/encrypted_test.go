package netagent

import (
	"context"
	"strings"
	"testing"

	"github.com/minsw/minsw/netdriver/ipsec"
	api "github.com/minsw/minsw/proto/minsw/v1"
)

type countingNetwork struct{ prepared int }

func (c *countingNetwork) Prepare(context.Context, *api.Task, []*api.Network) (string, error) {
	c.prepared++
	return "/run/netns/x", nil
}
func (c *countingNetwork) Release(context.Context, *api.Task) error { return nil }

func TestRefuseEncryptedRejectsBeforeAttaching(t *testing.T) {
	kernel := ipsec.NewCheckerWith(func() (ipsec.Features, error) { return ipsec.Features{}, nil }) // this lab's 6.18
	plain := &api.Network{Id: "n1", Spec: &api.NetworkSpec{Name: "front", Driver: "overlay"}}
	secret := &api.Network{Id: "n2", Spec: &api.NetworkSpec{Name: "mynet", Driver: "overlay", DriverOpts: map[string]string{"encrypted": ""}}}
	for _, tc := range []struct {
		name     string
		networks []*api.Network
		wantErr  string
	}{
		{"a plain overlay attaches", []*api.Network{plain}, ""},
		{"an encrypted overlay is refused with the missing features", []*api.Network{plain, secret},
			"overlay network mynet is encrypted but this node's kernel has no IPsec ESP (CONFIG_INET_ESP) / AES-GCM (CONFIG_CRYPTO_GCM)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := &countingNetwork{}
			_, err := RefuseEncrypted(next, kernel.Check).Prepare(context.Background(), &api.Task{Id: "t"}, tc.networks)
			if tc.wantErr == "" {
				if err != nil || next.prepared != 1 {
					t.Fatalf("err %v, prepared %d", err, next.prepared)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || next.prepared != 0 {
				t.Fatalf("err %v, prepared %d", err, next.prepared)
			}
		})
	}
}
