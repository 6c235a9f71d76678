package kube

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want TargetRef
	}{
		{"web", TargetRef{Kind: KindPod, Name: "web"}},
		{"web:8080", TargetRef{Kind: KindPod, Name: "web", Port: "8080"}},
		{"pod/db-0:postgres", TargetRef{Kind: KindPod, Name: "db-0", Port: "postgres"}},
		{"svc/db", TargetRef{Kind: KindService, Name: "db"}},
		{"service/db.v2:5432", TargetRef{Kind: KindService, Name: "db.v2", Port: "5432"}},
		{"10.0.0.7", TargetRef{Kind: KindIP, Addr: netip.MustParseAddr("10.0.0.7")}},
		{"10.0.0.7:443", TargetRef{Kind: KindIP, Addr: netip.MustParseAddr("10.0.0.7"), Port: "443"}},
		{"[fd00::7]:53", TargetRef{Kind: KindIP, Addr: netip.MustParseAddr("fd00::7"), Port: "53"}},
		{"fd00::7", TargetRef{Kind: KindIP, Addr: netip.MustParseAddr("fd00::7")}},
	} {
		got, err := ParseTarget(tc.in)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseTarget(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if again, err := ParseTarget(got.String()); err != nil || again != got {
			t.Errorf("ParseTarget(%q.String() = %q) = %+v, %v; want a round trip", tc.in, got.String(), again, err)
		}
	}
}

func TestParseTargetErrors(t *testing.T) {
	for _, in := range []string{"", "deploy/web", "svc/", "Web", "web:0", "web:99999", "web:HTTP", "10.0.0.7:0", "web:-x", "pod/a b"} {
		_, err := ParseTarget(in)
		if !errors.Is(err, ErrBadTarget) {
			t.Errorf("ParseTarget(%q) error = %v, want ErrBadTarget", in, err)
		}
	}
}
