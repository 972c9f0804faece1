package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DiskSize is an amount of disk space: Bytes, or Percent of the file
// system's size. It parses "1073741824", "512MiB", "1GiB", "2GB" or "5%".
type DiskSize struct {
	Bytes   int64
	Percent float64
}

func (d DiskSize) String() string {
	if d.Percent > 0 {
		return strconv.FormatFloat(d.Percent, 'f', -1, 64) + "%"
	}
	return strconv.FormatInt(d.Bytes, 10)
}

// Set parses s; it makes DiskSize a flag.Value.
func (d *DiskSize) Set(s string) error {
	v, err := ParseDiskSize(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

var diskUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
}

// ParseDiskSize parses a size in bytes with an optional unit (KiB, MiB,
// GiB, TiB, KB, MB, GB, TB; case ignored) or a percentage ("5%").
func ParseDiskSize(s string) (DiskSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if p, ok := strings.CutSuffix(t, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f >= 100 || math.IsNaN(f) {
			return DiskSize{}, fmt.Errorf("%q: want a percentage from 0 to 99, e.g. 5%%", s)
		}
		return DiskSize{Percent: f}, nil
	}
	mult := 1.0
	for _, u := range diskUnits {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || f*mult > math.MaxInt64/2 {
		return DiskSize{}, fmt.Errorf("%q: want a size such as 1073741824, 512MiB, 1GiB or 5%%", s)
	}
	return DiskSize{Bytes: int64(f * mult)}, nil
}

// diskFlags registers the disk flags on fs.
func (c *Config) diskFlags(fs *flag.FlagSet) {
	fs.Var(&c.MinFreeDisk, "min-free-disk", "free space in the data dir below which the server warns and /readyz says degraded, e.g. 1GiB or 5% (env FRAMEWISE_MIN_FREE_DISK)")
	fs.Var(&quotaFlag{&c.StorageQuota}, "storage-quota", "most bytes of uploaded media stored at once (asset files, pending chunks, base64 videos), e.g. 50GiB; 0 is no quota (env FRAMEWISE_STORAGE_QUOTA)")
}

// diskEnv reads the disk settings from the environment.
func (c *Config) diskEnv(getenv func(string) string) error {
	var errs []error
	if v := getenv("FRAMEWISE_MIN_FREE_DISK"); v != "" {
		errs = append(errs, wrapEnv("FRAMEWISE_MIN_FREE_DISK", c.MinFreeDisk.Set(v)))
	}
	if v := getenv("FRAMEWISE_STORAGE_QUOTA"); v != "" {
		errs = append(errs, wrapEnv("FRAMEWISE_STORAGE_QUOTA", (&quotaFlag{&c.StorageQuota}).Set(v)))
	}
	return errors.Join(errs...)
}

// quotaFlag is a size in bytes; a percentage is refused.
type quotaFlag struct{ v *int64 }

func (q *quotaFlag) String() string {
	if q.v == nil {
		return "0"
	}
	return strconv.FormatInt(*q.v, 10)
}

func (q *quotaFlag) Set(s string) error {
	d, err := ParseDiskSize(s)
	if err == nil && d.Percent > 0 {
		err = fmt.Errorf("%q: the storage quota is a size such as 50GiB, not a percentage", s)
	}
	if err != nil {
		return err
	}
	*q.v = d.Bytes
	return nil
}
