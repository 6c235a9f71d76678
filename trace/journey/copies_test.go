package journey

import "testing"

// TestPktKey: the packed key tells packets apart by every part of the flow
// and the IPv4 ID, and only by those.
func TestPktKey(t *testing.T) {
	base := tup(17, "10.0.0.1:4000", "10.0.0.2:53", 7)
	key := func(tu Tuple) pktKey {
		k, ok := keyOf(&Event{Tuple: tu})
		if !ok {
			t.Fatalf("no key for %s id %d", tu, tu.IPID)
		}
		return k
	}
	k := key(base)
	flags := base
	flags.TCPFlags = 0x12
	if key(flags) != k {
		t.Errorf("TCP flags changed the key")
	}
	for _, other := range []Tuple{
		tup(17, "10.0.0.9:4000", "10.0.0.2:53", 7),
		tup(17, "10.0.0.1:4000", "10.0.0.9:53", 7),
		tup(17, "10.0.0.1:4001", "10.0.0.2:53", 7),
		tup(17, "10.0.0.1:4000", "10.0.0.2:54", 7),
		tup(6, "10.0.0.1:4000", "10.0.0.2:53", 7),
		tup(17, "10.0.0.1:4000", "10.0.0.2:53", 8),
		tup(17, "10.0.0.2:53", "10.0.0.1:4000", 7),
	} {
		if key(other) == k {
			t.Errorf("%s id %d has the key of %s id %d", other, other.IPID, base, base.IPID)
		}
	}
	for _, none := range []Tuple{
		{},
		tup(17, "10.0.0.1:4000", "10.0.0.2:53", 0),
		tup(17, "[fd00::1]:4000", "[fd00::2]:53", 7),
	} {
		if _, ok := keyOf(&Event{Tuple: none}); ok {
			t.Errorf("%s id %d has a packet key, want none (IPv4 with an ID only)", none, none.IPID)
		}
	}
}
