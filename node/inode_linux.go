package node

import (
	"io/fs"
	"syscall"
)

// inode is a file's inode number, to count hard links once.
func inode(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Ino, true
}
