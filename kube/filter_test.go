package kube

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.7": "10.0.0.7/32", "10.0.0.7/24": "10.0.0.0/24", "fd00::1": "fd00::1/128",
	} {
		got, err := ParsePrefix(in)
		if err != nil || got.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParsePrefix("10.0.0.300"); !errors.Is(err, ErrBadFilter) {
		t.Errorf("ParsePrefix(bad) error = %v, want ErrBadFilter", err)
	}
}

func TestDerive(t *testing.T) {
	pod := Endpoint{Kind: KindPod, IP: netip.MustParseAddr("10.244.1.5")}
	svc := &Endpoint{Kind: KindService, IP: netip.MustParseAddr("10.96.0.20"), Port: 80, Proto: "tcp"}

	got := Filter{Count: 3}.Derive(pod, nil)
	want := []string{"trace", "--host", "10.244.1.5/32", "--count", "3", "--output", "json"}
	if !slices.Equal(got.Args(), want) {
		t.Errorf("no target: args %q, want %q", got.Args(), want)
	}

	got = Filter{}.Derive(pod, svc)
	want = []string{"trace", "--proto", "tcp", "--src", "10.244.1.5/32", "--dst", "10.96.0.20/32", "--dport", "80", "--reply", "--output", "json"}
	if !slices.Equal(got.Args(), want) {
		t.Errorf("service: args %q, want %q", got.Args(), want)
	}

	// What the user set wins: their own addresses, port and protocol.
	user := Filter{Proto: "udp", Host: netip.MustParsePrefix("10.0.0.0/8"), Port: 53,
		Ifaces: []string{"lxc*"}, Netns: []string{"/run/netns/a"}, Duration: 5 * time.Second, TailCalls: "passive", MaxRate: 500}
	got = user.Derive(pod, svc)
	want = []string{"trace", "--proto", "udp", "--host", "10.0.0.0/8", "--port", "53", "--iface", "lxc*",
		"--netns", "/run/netns/a", "--duration", "5s", "--tail-calls", "passive", "--max-rate", "500", "--output", "json"}
	if !slices.Equal(got.Args(), want) {
		t.Errorf("user filter: args %q, want %q", got.Args(), want)
	}
	// An expression goes last, after "--", and combines with the pod's address.
	got = Filter{Expr: "udp and not port 53"}.Derive(pod, nil)
	want = []string{"trace", "--host", "10.244.1.5/32", "--output", "json", "--", "udp and not port 53"}
	if !slices.Equal(got.Args(), want) {
		t.Errorf("expression: args %q, want %q", got.Args(), want)
	}
	if d := got.Describe(); d != "--host 10.244.1.5/32 'udp and not port 53'" {
		t.Errorf("expression: described as %q", d)
	}
	got = user.Derive(pod, svc)
	got.Ifaces[0] = "changed"
	if user.Ifaces[0] != "lxc*" {
		t.Error("Derive shares the user's slices")
	}
}

func TestFilterValidate(t *testing.T) {
	for _, f := range []Filter{{Proto: "gre"}, {Proto: "256"}, {TailCalls: "always"}, {Count: -1}, {MaxRate: -1}, {Port: 1, Dport: 2}, {Expr: "udp and"}, {Expr: "ether host 1.2.3.4"}} {
		if err := f.Validate(); !errors.Is(err, ErrBadFilter) {
			t.Errorf("Validate(%+v) = %v, want ErrBadFilter", f, err)
		}
	}
	for _, f := range []Filter{{Proto: "icmp", TailCalls: "off", Sport: 1, Dport: 2}, {Proto: "sctp"}, {Proto: "icmpv6"}, {Proto: "47"}, {Expr: "tcp port 80 or icmp"}} {
		if err := f.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", f, err)
		}
	}
}
