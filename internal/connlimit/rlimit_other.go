//go:build !unix

package connlimit

// FileLimit returns a conservative guess where the limit cannot be read.
func FileLimit() (uint64, error) { return 8192, nil }
