package ociimage

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
)

// libDirs are where the dynamic loader of a Debian system finds libraries.
var libDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// HostBinary describes the host executable src at path p in the image,
// together with what it needs to run there: its ELF interpreter and every
// shared library it loads, found as the host's loader would and placed at the
// same paths. Libraries opened at run time with dlopen are not found; list
// them with HostFile. Statically linked binaries come alone.
func HostBinary(p, src string) ([]File, error) {
	files := []File{HostFile(p, src, 0)}
	seen := map[string]bool{}
	var add func(bin string) error
	add = func(bin string) error {
		f, err := elf.Open(bin)
		if err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		defer f.Close()
		for _, prog := range f.Progs {
			if prog.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return fmt.Errorf("%s: interpreter: %w", bin, err)
			}
			interp := string(b)
			if i := len(interp); i > 0 && interp[i-1] == 0 {
				interp = interp[:i-1]
			}
			if !seen[interp] {
				seen[interp] = true
				files = append(files, HostFile(interp, interp, 0))
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: libraries: %w", bin, err)
		}
		for _, lib := range libs {
			path, err := findLib(lib)
			if err != nil {
				return fmt.Errorf("%s: %w", bin, err)
			}
			if seen[path] {
				continue
			}
			seen[path] = true
			files = append(files, HostFile(path, path, 0))
			if err := add(path); err != nil {
				return err
			}
		}
		return nil
	}
	if err := add(src); err != nil {
		return nil, err
	}
	return files, nil
}

func findLib(name string) (string, error) {
	if filepath.IsAbs(name) {
		return name, nil
	}
	for _, d := range libDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("shared library %s not found in %v", name, libDirs)
}
