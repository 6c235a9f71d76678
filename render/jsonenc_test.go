package render

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// encodeBoth returns what the append encoder and json.Marshal write for j,
// and whether the encoder wrote it itself.
func encodeBoth(t *testing.T, j *journey.Journey) (fast, slow []byte, ok bool) {
	t.Helper()
	var e jsonEnc
	ok = e.journey(j)
	slow, err := json.Marshal(j)
	if ok && err != nil {
		t.Fatalf("encoder wrote a journey json.Marshal refuses: %v", err)
	}
	return e.b, slow, ok
}

func checkSame(t *testing.T, what string, j *journey.Journey) {
	t.Helper()
	fast, slow, ok := encodeBoth(t, j)
	if !ok {
		t.Errorf("%s: encoder fell back to json.Marshal", what)
		return
	}
	if !bytes.Equal(fast, slow) {
		t.Errorf("%s: encoder output differs from json.Marshal\n--- encoder\n%s\n--- json.Marshal\n%s", what, fast, slow)
	}
}

// TestJSONEncoderMatchesMarshal holds the append encoder to json.Marshal,
// byte for byte, on the golden fixtures and on random journeys with every
// field set or not and hostile strings.
func TestJSONEncoderMatchesMarshal(t *testing.T) {
	for _, j := range allJourneys() {
		checkSame(t, "fixture "+j.Tuple.String(), j)
	}
	for seed := uint64(0); seed < 5000; seed++ {
		j := randomJourney(seed)
		if seed%7 == 0 && j.Hops == nil {
			j.Hops = []journey.Hop{} // empty, not nil: [] rather than null
		}
		if seed%11 == 0 {
			j.Clones = []journey.Ptr{}
		}
		checkSame(t, "random journey", j)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

// TestJSONEncoderStrings covers every byte class of string escaping.
func TestJSONEncoderStrings(t *testing.T) {
	var all []byte
	for c := 0; c < 256; c++ {
		all = append(all, byte(c))
	}
	for _, s := range []string{"", string(all), "a\u2028b\u2029c", "<script>&amp;</script>", "\xff\xfe\xc3", "\xe2\x80", "é世👍\x7f",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "x\xc0\xafy"} {
		j := randomJourney(1)
		j.Node, j.DropReason, j.Fate, j.End = s, s, journey.Fate(s), journey.End(s)
		for i := range j.Hops {
			j.Hops[i].Device.Name = s
			j.Hops[i].SetKfunc(s)
			j.Hops[i].SetNode(s)
		}
		// zones are strings too; 4-in-6 addresses have a text form of their own
		j.Tuple.Src = netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone(s), 80)
		j.Tuple.Dst = netip.AddrPortFrom(netip.MustParseAddr("::ffff:10.0.0.1").WithZone(s), 0)
		checkSame(t, "string "+s, j)
	}
}

// TestJSONEncoderTimes covers the times json.Marshal writes and refuses.
func TestJSONEncoderTimes(t *testing.T) {
	j := randomJourney(2)
	for _, tm := range []time.Time{
		{},
		time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC),
		time.Date(2025, 6, 1, 12, 0, 0, 1, time.FixedZone("x", 5*3600+30*60)),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("y", -11*3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("z", 23*3600+59*60)),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("s", 3600+17)),
	} {
		j.StartWall = tm
		checkSame(t, tm.String(), j)
	}
	for _, tm := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("w", 24*3600)),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("w", -25*3600)),
	} {
		j.StartWall = tm
		if _, _, ok := encodeBoth(t, j); ok {
			t.Errorf("encoder wrote %v, which json.Marshal refuses", tm)
		}
	}
}

// FuzzJSONEncoder compares the encoder with json.Marshal on random
// journeys carrying fuzzed strings.
func FuzzJSONEncoder(f *testing.F) {
	f.Add(uint64(1), "node", "eth0", "TC_ACT_OK")
	f.Add(uint64(99), "\x00<&>\u2028", "\xff", "é")
	f.Fuzz(func(t *testing.T, seed uint64, a, b, c string) {
		j := randomJourney(seed)
		j.Node, j.DropReason = a, c
		for i := range j.Hops {
			h := &j.Hops[i]
			h.Device.Name, h.Device.NetnsName, h.Verdict = b, a, c
			h.SetNode(a)
			for k := range h.TailCalls {
				h.TailCalls[k].Map, h.TailCalls[k].Prog.Name = a, b
			}
		}
		fast, slow, ok := encodeBoth(t, j)
		if ok && !bytes.Equal(fast, slow) {
			t.Fatalf("encoder output differs\n--- encoder\n%s\n--- json.Marshal\n%s", fast, slow)
		}
	})
}
