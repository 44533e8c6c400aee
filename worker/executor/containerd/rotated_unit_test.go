package containerd

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestRotatingKeepsMaxFilesOfMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "container.log")
	r, err := openRotating(path, 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i := range 50 {
		all = fmt.Appendf(all, "line %02d\n", i) // 8 bytes
	}
	// One write of many lines, as a read from the container's pipe.
	if _, err := r.Write(all); err != nil {
		t.Fatal(err)
	}
	r.close()
	for _, p := range []string{path, path + ".1", path + ".2"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 100 {
			t.Errorf("%s: %d bytes", p, st.Size())
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Error("kept a fourth file")
	}
	b, _ := os.ReadFile(path)
	if string(b[len(b)-8:]) != "line 49\n" {
		t.Errorf("current ends %q", b)
	}
}
