package executor

import "os"

// MountKind is what a Mount attaches.
type MountKind int

const (
	// MountBind attaches a host path (a named or anonymous volume's
	// directory is one too, resolved by the agent's volume store).
	MountBind MountKind = iota
	// MountTmpfs attaches a new, empty tmpfs.
	MountTmpfs
)

// Mount is one filesystem the container sees at Target.
type Mount struct {
	Kind     MountKind
	Source   string // host path (MountBind)
	Target   string // absolute path in the container
	ReadOnly bool
	// Propagation is rprivate, private, rshared, shared, rslave or slave
	// ("" is rprivate).
	Propagation string
	// Volume names the volume whose directory Source is, so the executor
	// words errors for it; "" for a plain bind.
	Volume string
	// CopyUp fills an empty volume with what the image holds at Target
	// when the container is created (docker's default for volumes;
	// volume-nocopy turns it off).
	CopyUp bool
	// TmpfsSize in bytes (0: the kernel's default) and TmpfsMode (0:
	// 01777), for MountTmpfs.
	TmpfsSize int64
	TmpfsMode os.FileMode
}

// File is a secret's or config's content, written for the container on a
// tmpfs (never on the node's disk) and bind-mounted read-only at Target.
type File struct {
	Target string // absolute path in the container
	Data   []byte
	UID    int
	GID    int
	Mode   os.FileMode
}

// String never shows the data, so a File may be logged.
func (f File) String() string { return f.Target }

// GoString keeps %#v from printing the data too.
func (f File) GoString() string { return "executor.File{Target: " + f.Target + "}" }
