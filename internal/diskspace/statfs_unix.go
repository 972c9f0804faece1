//go:build linux || darwin || freebsd

package diskspace

import "syscall"

// freeSpace returns the bytes available to unprivileged users and the
// size of the file system holding dir.
func freeSpace(dir string) (free, total int64, err error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, 0, err
	}
	return int64(s.Bavail) * int64(s.Bsize), int64(s.Blocks) * int64(s.Bsize), nil
}
