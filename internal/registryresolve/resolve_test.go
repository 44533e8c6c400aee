package registryresolve

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/minsw/minsw/internal/errdefs"
	"github.com/minsw/minsw/internal/testenv"
)

func TestResolve(t *testing.T) {
	reg, err := testenv.StartRegistry(testenv.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	for _, repo := range []string{"library/busybox:latest", "containous/whoami:v1"} {
		ref, err := name.ParseReference(reg.Host+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	r, err := New(Config{Mirror: reg.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, image string
		kind        errdefs.Kind
	}{
		{"a Docker Hub official name, through the mirror", "busybox", errdefs.KindUnknown},
		{"a Docker Hub name with a tag, through the mirror", "containous/whoami:v1", errdefs.KindUnknown},
		{"the registry named in the image", reg.Host + "/containous/whoami:v1", errdefs.KindUnknown},
		{"an unknown tag", "containous/whoami:v2", errdefs.KindNotFound},
		{"a bad name", "UPPER/case", errdefs.KindInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desc, platforms, err := r.Resolve(ctx, tc.image, nil)
			if tc.kind != errdefs.KindUnknown {
				if !errdefs.Is(err, tc.kind) {
					t.Fatalf("err %v, want kind %d", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(desc.Digest) != want.String() || desc.Size == 0 || desc.MediaType == "" {
				t.Fatalf("descriptor %+v, want digest %s", desc, want)
			}
			if len(platforms) != 1 || platforms[0].OS != "linux" || platforms[0].Architecture != "amd64" {
				t.Fatalf("platforms %+v", platforms)
			}
		})
	}
	// Without a mirror, Docker Hub is never asked.
	none, _ := New(Config{})
	if _, _, err := none.Resolve(ctx, "busybox", nil); !errdefs.Is(err, errdefs.KindUnimplemented) {
		t.Fatalf("no mirror: %v", err)
	}
}
