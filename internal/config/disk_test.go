package config

import (
	"io"
	"testing"
)

func TestParseDiskSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]DiskSize{
		"1073741824": {Bytes: 1 << 30},
		"1GiB":       {Bytes: 1 << 30},
		"512 MiB":    {Bytes: 512 << 20},
		"2GB":        {Bytes: 2e9},
		"1.5g":       {Bytes: 3 << 29},
		"5%":         {Percent: 5},
		"0":          {},
	} {
		got, err := ParseDiskSize(in)
		if err != nil || got != want {
			t.Errorf("ParseDiskSize(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "100%", "1PiB0", "5%%"} {
		if _, err := ParseDiskSize(in); err == nil {
			t.Errorf("ParseDiskSize(%q): no error", in)
		}
	}
}

func TestDiskFlagsOverEnv(t *testing.T) {
	t.Parallel()
	env := map[string]string{"FRAMEWISE_MIN_FREE_DISK": "5%", "FRAMEWISE_STORAGE_QUOTA": "1GiB"}
	getenv := func(k string) string { return env[k] }
	c, err := ParseServe(nil, getenv, io.Discard)
	if err != nil || c.MinFreeDisk != (DiskSize{Percent: 5}) || c.StorageQuota != 1<<30 {
		t.Fatalf("env: %+v %d %v", c.MinFreeDisk, c.StorageQuota, err)
	}
	c, err = ParseServe([]string{"--min-free-disk", "2GiB", "--storage-quota", "10MiB"}, getenv, io.Discard)
	if err != nil || c.MinFreeDisk != (DiskSize{Bytes: 2 << 30}) || c.StorageQuota != 10<<20 {
		t.Fatalf("flags: %+v %d %v", c.MinFreeDisk, c.StorageQuota, err)
	}
	if _, err := ParseServe([]string{"--storage-quota", "5%"}, getenv, io.Discard); err == nil {
		t.Fatal("a percentage quota was accepted")
	}
	if d := Default(); d.MinFreeDisk != (DiskSize{Bytes: 1 << 30}) || d.StorageQuota != 0 {
		t.Fatalf("defaults: %+v", d)
	}
}
