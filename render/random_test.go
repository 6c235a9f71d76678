package render

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// Random journeys guard the renderers' speed work: the text renderer must
// write exactly what it wrote before (testdata/render/random.sha256 holds a
// digest of its output for each seeded journey and layout, made before the
// fast paths went in), and the JSON renderer exactly what json.Marshal
// writes.

// randomJourney builds a journey from a seed: every field the renderers
// read, with names that are long, empty, wide, combining or hostile.
func randomJourney(seed uint64) *journey.Journey {
	g := &randGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	rng := g.rng
	j := &journey.Journey{
		Schema: rng.IntN(2),
		ID:     rng.Uint64N(1 << 40),
		Node:   g.pick("", "node-a", "kind-worker\x1b]0;x\x07"),
		Skb:    journey.Ptr(0xffff888000000000 + rng.Uint64N(1<<32)),
		Start:  rng.Uint64(),
		Tuple:  g.tuple(),
		Fate:   []journey.Fate{journey.FateDelivered, journey.FateDropped, journey.FateConsumed, journey.FateTransmitted, journey.FateUnknown, "", "weird\x1bfate"}[rng.IntN(7)],
		End:    []journey.End{journey.EndFree, journey.EndIdle, journey.EndEvicted, journey.EndFlush, journey.EndReused, journey.EndDelivered, "", "odd"}[rng.IntN(8)],
	}
	if rng.IntN(3) != 0 {
		j.StartWall = time.Unix(int64(rng.IntN(2_000_000_000)), int64(rng.IntN(1e9))).UTC()
	}
	if rng.IntN(4) == 0 {
		j.DropReason = g.pick("SKB_DROP_REASON_TC_INGRESS", "NOT_SPECIFIED", "NETFILTER_DROP", "weird\x1b")
	}
	for k := rng.IntN(4); k > 0 && rng.IntN(2) == 0; k-- {
		j.Clones = append(j.Clones, journey.Ptr(rng.Uint64()))
	}
	n := rng.IntN(24)
	if rng.IntN(10) == 0 {
		n = 0
	}
	at := time.Duration(0)
	for i := 0; i < n; i++ {
		d := g.dur()
		at += d
		j.Hops = append(j.Hops, g.hop(j, i, at, d))
	}
	for k := rng.IntN(3); k > 0 && n > 0; k-- {
		j.NAT = append(j.NAT, journey.NAT{Hop: 1 + rng.IntN(n), Old: g.tuple(), New: g.tuple(),
			Kind: g.pick("", "dnat", "snat", "nat", "k\x1bind")})
	}
	j.Duration = at
	return j
}

// randGen draws the parts of a random journey from one generator, in the
// order the digests were made with.
type randGen struct{ rng *rand.Rand }

func (g *randGen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }

func (g *randGen) name() string {
	return g.pick("", "eth0", "lxc-poda", "veth-a", "lxc1a2b3c4d5e6f7a8b9c0d1e2f", "cni-podman0",
		"ünïcødé", "名前", "e\u0301th", "bad\x1b[31mname", "tab\tname", "x", "👍dev", "a-very-long-interface-name-indeed")
}

func (g *randGen) addr(v6 bool) netip.Addr {
	rng := g.rng
	if !v6 {
		return netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
	}
	var b [16]byte
	b[0], b[1], b[15] = 0x20, 0x01, byte(rng.IntN(256))
	if rng.IntN(3) == 0 {
		b[7] = byte(rng.IntN(256))
	}
	a := netip.AddrFrom16(b)
	switch rng.IntN(8) {
	case 0:
		a = netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: 10, 15: byte(rng.IntN(256))}) // 4-in-6
	case 1:
		a = a.WithZone(g.pick("eth0", "z\x1bone", "名"))
	}
	return a
}

func (g *randGen) tuple() journey.Tuple {
	rng := g.rng
	if rng.IntN(12) == 0 {
		return journey.Tuple{}
	}
	v6 := rng.IntN(4) == 0
	t := journey.Tuple{Proto: []uint8{6, 17, 1, 58, 132, 47}[rng.IntN(6)]}
	var sp, dp uint16
	if t.Proto == 6 || t.Proto == 17 || t.Proto == 132 {
		sp, dp = uint16(rng.IntN(65536)), uint16(rng.IntN(65536))
	}
	t.Src, t.Dst = netip.AddrPortFrom(g.addr(v6), sp), netip.AddrPortFrom(g.addr(v6), dp)
	if rng.IntN(2) == 0 {
		t.IPID = uint16(rng.IntN(65536))
	}
	if t.Proto == 6 {
		t.TCPFlags = uint8(rng.IntN(256))
	}
	return t
}

func (g *randGen) dur() time.Duration {
	rng := g.rng
	switch rng.IntN(6) {
	case 0:
		return 0
	case 1:
		return time.Duration(rng.IntN(1000))
	case 2:
		return time.Duration(rng.IntN(1_000_000))
	case 3:
		return time.Duration(rng.IntN(1_000_000_000))
	case 4:
		return time.Duration(rng.Int64N(int64(5 * time.Minute)))
	}
	return -time.Duration(rng.IntN(5000))
}

func (g *randGen) device() journey.Device {
	rng := g.rng
	d := journey.Device{Name: g.name(), Netns: uint32(rng.IntN(3)) * 4026531840}
	if rng.IntN(4) != 0 {
		d.Ifindex = uint32(rng.IntN(200))
	}
	d.NetnsName = g.pick("", "", "host", "pod-a", "pl-bench-1a2b3c-node", "ns\x07bell", "命名空间")
	return d
}

func (g *randGen) prog() journey.Prog {
	return journey.Prog{ID: uint32(g.rng.IntN(5000)), Name: g.pick("", "demo_nat", "cil_from_container", "tail\x1bcall", "a_program_with_a_long_name_from_btf")}
}

// hop draws hop i of j, at at, d after the one before.
func (g *randGen) hop(j *journey.Journey, i int, at, d time.Duration) journey.Hop {
	rng := g.rng
	h := journey.Hop{
		Index: i + 1, At: at, Delta: d, Time: rng.Uint64(),
		Hook:   journey.Hook(rng.IntN(18)),
		Device: g.device(),
		Skb:    j.Skb,
		CPU:    uint16(rng.IntN(64)),
		Len:    uint32(rng.IntN(70000)),
		Tuple:  g.tuple(),
	}
	if rng.IntN(5) == 0 && len(j.Clones) > 0 {
		h.Skb = j.Clones[rng.IntN(len(j.Clones))]
	} else if rng.IntN(20) == 0 {
		h.Skb = journey.Ptr(rng.Uint64())
	}
	if rng.IntN(3) == 0 {
		h.Mark = rng.Uint32()
	}
	if h.Hook == journey.HookKfunc || h.Hook == journey.HookKfuncRet || rng.IntN(20) == 0 {
		h.SetKfunc(g.pick("", "ip_rcv", "__netif_receive_skb_core", "nf_hook_slow\x1b"))
	}
	if rng.IntN(6) == 0 {
		old := g.tuple()
		h.NATFrom = &old
	}
	g.hopProgs(&h, at)
	g.hopOutcome(&h)
	return h
}

// hopProgs draws a hop's programs and tail calls.
func (g *randGen) hopProgs(h *journey.Hop, at time.Duration) {
	rng := g.rng
	for k := rng.IntN(4); k > 0 && rng.IntN(2) == 0; k-- {
		h.Progs = append(h.Progs, g.prog())
	}
	for k := rng.IntN(5); k > 0 && rng.IntN(2) == 0; k-- {
		tc := journey.TailCall{At: at + g.dur(), Map: g.pick("", "demo_calls", "cilium_calls_00042", "m\x1bap"),
			MapID: uint32(rng.IntN(900)), Slot: uint32(rng.IntN(40)), Prog: g.prog()}
		tc.Missed = rng.IntN(5) == 0
		tc.Inferred = rng.IntN(5) == 0
		h.TailCalls = append(h.TailCalls, tc)
	}
}

// hopOutcome draws a hop's verdict, drop reason and return value.
func (g *randGen) hopOutcome(h *journey.Hop) {
	rng := g.rng
	if rng.IntN(3) == 0 {
		h.Verdict = g.pick("TC_ACT_OK", "TC_ACT_SHOT", "TC_ACT_REDIRECT", "TC_ACT_UNSPEC", "TC_ACT_STOLEN", "TC_ACT_PIPE", "TC_ACT_42", "v\x1b")
		h.VerdictInferred = rng.IntN(2) == 0
	}
	if rng.IntN(4) == 0 {
		h.DropReason = g.pick("SKB_DROP_REASON_NO_SOCKET", "TC_INGRESS", "NOT_SPECIFIED", "")
	}
	if rng.IntN(4) == 0 {
		v := rng.Int64N(1<<40) - 1<<39
		h.Ret = &v
	}
}

// randomLayouts are the text renderer settings the digests cover.
var randomLayouts = []struct {
	name string
	o    Options
}{
	{"plain", Options{}},
	{"color", Options{Color: true}},
	{"verbose", Options{Verbose: true, Color: true}},
	{"w40", Options{Width: 40}},
	{"w60", Options{Width: 60, Verbose: true}},
	{"w160", Options{Width: 160}},
}

const randomJourneys = 2000

// randomDigests renders every seeded journey in every layout, one digest
// line per journey and layout.
func randomDigests(t *testing.T) []byte {
	var out bytes.Buffer
	for seed := uint64(0); seed < randomJourneys; seed++ {
		j := randomJourney(seed)
		for _, l := range randomLayouts {
			var b bytes.Buffer
			if err := NewText(&b, l.o).Journey(j); err != nil {
				t.Fatalf("seed %d %s: %v", seed, l.name, err)
			}
			sum := sha256.Sum256(b.Bytes())
			fmt.Fprintf(&out, "%d %s %s\n", seed, l.name, fmt.Sprintf("%x", sum[:8]))
		}
	}
	return out.Bytes()
}

// TestTextRandomDigests checks that the text renderer writes, for 2000
// random journeys in six layouts, exactly the bytes it wrote when the
// digests were recorded.
func TestTextRandomDigests(t *testing.T) {
	got := randomDigests(t)
	path := filepath.Join(goldenDir, "random.sha256")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read digests: %v", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	bad := 0
	for i := 0; i < len(gl) && i < len(wl); i++ {
		if gl[i] != wl[i] {
			if bad++; bad <= 10 {
				t.Errorf("digest differs: got %q, want %q", gl[i], wl[i])
			}
		}
	}
	t.Errorf("%d of %d renderings differ", bad, len(wl))
}
