package netguard

import "net/netip"

// blockedPrefixes are the ranges the guard refuses, first match wins, so
// the specific broadcast address comes before the reserved block holding it.
var blockedPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" address (0.0.0.0/8)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private address (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT address (100.64.0.0/10)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local address (cloud metadata services live here)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private address (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment address (192.0.0.0/24)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private address (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking address (198.18.0.0/15)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved address (240.0.0.0/4)"},

	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback address"},
	{netip.MustParsePrefix("fc00::/7"), "private address (unique local, fc00::/7)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "site-local address (fec0::/10)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast address"},
	{netip.MustParsePrefix("100::/64"), "discard-only address (100::/64)"},
}

// Prefixes that embed an IPv4 address which the packet may end up at.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")   // RFC 6052, IPv4 in the last 32 bits
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48") // RFC 8215, IPv4 in the last 32 bits
	sixToFour      = netip.MustParsePrefix("2002::/16")      // RFC 3056, IPv4 in bits 16–47
	ipv4Compatible = netip.MustParsePrefix("::/96")          // deprecated ::a.b.c.d
)

// Classify reports whether ip is an address a server must not reach on a
// user's behalf, and why. IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible,
// NAT64 and 6to4 forms are judged by the IPv4 address they carry.
func Classify(ip netip.Addr) (reason string, blocked bool) {
	if !ip.IsValid() {
		return "invalid address", true
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		if r, b := Classify(ip.Unmap()); b {
			return r + " in IPv4-mapped form", true
		}
		return "", false
	}
	for _, p := range blockedPrefixes {
		if p.prefix.Contains(ip) {
			return p.reason, true
		}
	}
	if ip.Is6() {
		a := ip.As16()
		var v4 netip.Addr
		var form string
		switch {
		case ipv4Compatible.Contains(ip):
			v4, form = netip.AddrFrom4([4]byte(a[12:16])), "IPv4-compatible"
		case nat64WellKnown.Contains(ip), nat64Local.Contains(ip):
			v4, form = netip.AddrFrom4([4]byte(a[12:16])), "NAT64"
		case sixToFour.Contains(ip):
			v4, form = netip.AddrFrom4([4]byte(a[2:6])), "6to4"
		}
		if v4.IsValid() {
			if r, b := Classify(v4); b {
				return r + " in " + form + " form", true
			}
		}
	}
	return "", false
}
