package render

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// floatDur is appendSigned as it was written with AppendFloat.
func floatDur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(float64(d)/1e9, 'f', 2, 64) + "s"
	}
	return d.Round(100 * time.Millisecond).String()
}

// TestAppendFixed checks the integer formatting against AppendFloat at
// every unit's edges, halves and at random.
func TestAppendFixed(t *testing.T) {
	var ds []time.Duration
	for _, u := range []time.Duration{time.Microsecond, time.Millisecond, time.Second} {
		for _, k := range []time.Duration{1, 2, 5, 10, 99, 100, 999} {
			for off := time.Duration(-60); off <= 60; off++ {
				ds = append(ds, k*u+off, k*u+u/20+off, k*u+u/200+off)
			}
		}
	}
	for i := 0; i < 200000; i++ {
		ds = append(ds, time.Duration(rand.Int64N(int64(time.Minute))))
		ds = append(ds, time.Duration(rand.Int64N(int64(time.Millisecond))))
		ds = append(ds, time.Duration(rand.Int64N(1e4)*100+50))
	}
	for _, d := range ds {
		if d < 0 {
			continue
		}
		if got, want := string(appendSigned(nil, d)), floatDur(d); got != want {
			t.Fatalf("appendSigned(%d) = %q, want %q", int64(d), got, want)
		}
	}
}

// TestEndpoint checks endpoint against the strings it is made of.
func TestEndpoint(t *testing.T) {
	for _, s := range []string{"10.0.0.1:80", "[2001:db8::1]:443", "[fe80::1%eth0]:53", "[::ffff:1.2.3.4]:0", "0.0.0.0:65535"} {
		ap := netip.MustParseAddrPort(s)
		for _, ports := range []bool{false, true} {
			a, p := endpoint(ap, ports)
			wa, wp := ap.Addr().String(), ""
			if ports {
				wp = ":" + strconv.Itoa(int(ap.Port()))
				if ap.Addr().Is6() {
					wa = "[" + wa + "]"
				}
			}
			if a != wa || p != wp {
				t.Errorf("endpoint(%s, %v) = %q %q, want %q %q", s, ports, a, p, wa, wp)
			}
		}
	}
	if a, p := endpoint(netip.AddrPort{}, true); a != "invalid IP" || p != ":0" {
		t.Errorf("endpoint(zero) = %q %q", a, p)
	}
}
