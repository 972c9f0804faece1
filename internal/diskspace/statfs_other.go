//go:build !(linux || darwin || freebsd)

package diskspace

import "errors"

func freeSpace(string) (int64, int64, error) {
	return 0, 0, errors.New("free space is not measured on this system")
}
