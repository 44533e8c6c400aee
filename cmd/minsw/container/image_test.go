package container

import "testing"

func TestListImage(t *testing.T) {
	const d = "@sha256:83f9e25400d43fa3245f86ec9f257be2c4a4d86a6f955c7f2b57c3548316b985"
	for _, tc := range []struct {
		ref     string
		noTrunc bool
		want    string
	}{
		{"xiaopeng163/net-box:latest" + d, false, "xiaopeng163/net-box:latest"},
		{"xiaopeng163/net-box:latest" + d, true, "xiaopeng163/net-box:latest" + d},
		{"xiaopeng163/net-box" + d, false, "xiaopeng163/net-box" + d},
		{"127.0.0.1:5000/web:v1" + d, false, "127.0.0.1:5000/web:v1"},
		{"127.0.0.1:5000/web" + d, false, "127.0.0.1:5000/web" + d},
		{"busybox:latest", false, "busybox:latest"},
	} {
		if got := listImage(tc.ref, tc.noTrunc); got != tc.want {
			t.Errorf("listImage(%q, %v) = %q, want %q", tc.ref, tc.noTrunc, got, tc.want)
		}
	}
}
