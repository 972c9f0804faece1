package httpapi

import (
	"net"
	"testing"
)

func TestHostAllowed(t *testing.T) {
	t.Parallel()
	v4 := &net.TCPAddr{IP: net.ParseIP("192.168.1.5"), Port: 8700}
	v6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::5"), Port: 8700}
	mapped := &net.TCPAddr{IP: net.ParseIP("::ffff:192.168.1.5"), Port: 8700}
	port80 := &net.TCPAddr{IP: net.ParseIP("192.168.1.5"), Port: 80}
	tests := []struct {
		host   string
		scheme string
		local  net.Addr
		want   bool
	}{
		// Loopback names and addresses, on any port (port mappings).
		{"localhost:8700", "http", v4, true},
		{"LOCALHOST:9000", "http", v4, true},
		{"localhost.:8700", "http", v4, true},
		{"fw.localhost:8700", "http", v4, true},
		{"localhost", "http", nil, true},
		{"127.0.0.1:8700", "http", nil, true},
		{"127.8.9.10:1", "http", v4, true},
		{"[::1]:8700", "http", v6, true},
		{"[::ffff:127.0.0.1]:8700", "http", v4, true},
		// The address and port the connection arrived at.
		{"192.168.1.5:8700", "http", v4, true},
		{"192.168.1.5:8700", "http", mapped, true},
		{"[2001:db8::5]:8700", "http", v6, true},
		{"192.168.1.5", "http", port80, true},
		{"192.168.1.5", "https", port80, false},
		// Anything else is foreign.
		{"192.168.1.5:8701", "http", v4, false},
		{"192.168.1.6:8700", "http", v4, false},
		{"192.168.1.5:8700", "http", nil, false},
		{"evil.example:8700", "http", v4, false},
		{"evil.example", "https", v4, false},
		{"localhost.evil.example:8700", "http", v4, false},
		{"localhost@evil.example", "http", v4, false},
		{"evil.example/localhost", "http", v4, false},
		{"evil.example#localhost", "http", v4, false},
		{"127.0.0.1.evil.example", "http", v4, false},
		{"", "http", v4, false},
		{":8700", "http", v4, false},
		{"[::1", "http", v4, false},
		{"[::1]", "http", nil, true},
		{"::1", "http", nil, false},
	}
	for _, tt := range tests {
		if got := hostAllowed(tt.host, tt.scheme, tt.local); got != tt.want {
			t.Errorf("hostAllowed(%q, %s, %v) = %v, want %v", tt.host, tt.scheme, tt.local, got, tt.want)
		}
	}
}
