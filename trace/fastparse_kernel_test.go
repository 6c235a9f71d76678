package trace

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/filter"
	"github.com/pktlife/pktlife/filter/filtertest"
)

// parseResult is what an observer run tells of a frame's parse: whether it
// matched (an empty filter matches every packet with a tuple) and the tuple
// it tracks.
type parseResult struct {
	matched bool
	tuple   bpf.PktlifeTuple
}

// runParse loads the tc ingress observer with an empty filter, the fast
// parse on or off, and runs it on each frame.
func runParse(t *testing.T, frames [][]byte, fast bool) ([]parseResult, bool) {
	t.Helper()
	o := Options{TrackIdle: 1, RingSize: 64 << 10, MaxTracked: 1024, noFastParse: !fast}
	objs := armedObjects(t, o)
	defer objs.Close()
	p, err := objs.load(bpf.PktlifeProgPlTcIngress, progLoad{})
	if err != nil {
		t.Fatalf("load observer: %v", err)
	}
	defer p.Close()
	res := make([]parseResult, len(frames))
	before := matchedCount(t, objs)
	for i, f := range frames {
		if _, err := p.Run(&ebpf.RunOptions{Data: f}); err != nil {
			t.Fatalf("run observer on frame %d: %v", i, err)
		}
		after := matchedCount(t, objs)
		res[i].matched = after != before
		before = after
		var k uint64
		var v bpf.PktlifeTrack
		it := objs.maps.Tracked.Iterate()
		var keys []uint64
		for it.Next(&k, &v) {
			res[i].tuple = v.Tuple
			keys = append(keys, k)
		}
		for _, k := range keys {
			if err := objs.maps.Tracked.Delete(k); err != nil {
				t.Fatalf("clear tracked: %v", err)
			}
		}
	}
	if n := objs.slowParse.Load(); n != 0 {
		t.Errorf("%d programs refused the fast parse this kernel has", n)
	}
	return res, objs.feat.fastParse
}

// parseFrames returns the corpus's frames and variants that take parsing's
// other paths: IPv4 options, fragments, short and truncated packets, ARP,
// another ethertype and a wrong IP version.
func parseFrames() [][]byte {
	var frames [][]byte
	for _, p := range filtertest.Packets() {
		f := filtertest.Frame(&p)
		frames = append(frames, f)
		if p.Family == 4 {
			for _, words := range []int{1, 4, 10} {
				frames = append(frames, withOptions(f, words))
			}
			frag := append([]byte(nil), f...)
			frag[14+6] = 0x00
			frag[14+7] = 0x10 // offset 128 bytes: no transport header
			frames = append(frames, frag, append([]byte(nil), f[:14+20+2]...), append([]byte(nil), f[:14+20+4]...),
				append([]byte(nil), f[:14+20+10]...), append([]byte(nil), f[:14+20]...))
		} else {
			frames = append(frames, append([]byte(nil), f[:14+40+3]...), append([]byte(nil), f[:14+40+13]...),
				append([]byte(nil), f[:14+40]...))
		}
	}
	arp := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06}, make([]byte, 28)...)
	other := append([]byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5}, make([]byte, 60)...)
	v4 := filter.Packet{Family: 4, Proto: 17, Ports: true, Sport: 1, Dport: 2,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}
	badVersion := filtertest.Frame(&v4)
	badVersion[14] = 0x65
	return append(frames, arp, other, badVersion)
}

// withOptions inserts words four-byte words of IPv4 options (NOPs) after an
// IPv4 frame's header.
func withOptions(f []byte, words int) []byte {
	opts := make([]byte, 4*words)
	for i := range opts {
		opts[i] = 1
	}
	g := append(append(append([]byte(nil), f[:14+20]...), opts...), f[14+20:]...)
	g[14] = 0x40 | byte(5+words)
	binary.BigEndian.PutUint16(g[14+2:], binary.BigEndian.Uint16(f[14+2:])+uint16(len(opts)))
	return g
}

// TestFastParseAgrees runs the tc observer with the fast parse (plain loads
// through bpf_rdonly_cast) and with the helper path on the same frames and
// wants the same answer for each; where the frame is a whole corpus packet,
// the answer must also be the packet's own tuple.
func TestFastParseAgrees(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	frames := parseFrames()
	fast, on := runParse(t, frames, true)
	slow, _ := runParse(t, frames, false)
	t.Logf("fast parse on this kernel: %v; %d frames", on, len(frames))
	for i := range frames {
		if fast[i] != slow[i] {
			t.Errorf("frame %d (% x): fast %+v, helper path %+v", i, frames[i], fast[i], slow[i])
		}
	}
	// the corpus's whole packets, and those with options, parse to their tuple
	i := 0
	for _, p := range filtertest.Packets() {
		n := 1
		if p.Family == 4 {
			n = 4
		}
		for j := range n {
			r := fast[i+j]
			if !r.matched || r.tuple.Family != p.Family || r.tuple.Proto != p.Proto ||
				r.tuple.Sport != p.Sport || r.tuple.Dport != p.Dport || (p.Proto == 6 && r.tuple.TcpFlags != p.TCPFlags) {
				t.Errorf("frame %d (%+v, variant %d): parsed %+v", i+j, p, j, r)
			}
		}
		if p.Family == 4 {
			i += 9
		} else {
			i += 4
		}
	}
}

// BenchmarkParsePaths measures the tc observer on a packet the filter
// rejects, parsing with the helper path, with the fast one, and with hooks
// only (the floor): go test -run X -bench ParsePaths ./trace/.
func BenchmarkParsePaths(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load BPF programs")
	}
	pkt := filter.Packet{Family: 4, Proto: 17, Ports: true, Sport: 40000, Dport: 54,
		Src: filtertest.Packets()[0].Src, Dst: filtertest.Packets()[0].Dst}
	frame := filtertest.Frame(&pkt)
	for _, c := range []struct {
		name      string
		noFast    bool
		hooksOnly bool
	}{{"helper", true, false}, {"fast", false, false}, {"hooks-only", false, true}} {
		b.Run(c.name, func(b *testing.B) {
			benchTCIngress(b, Options{Filter: Filter{Proto: 17, Dport: 53}, RingSize: 64 << 10, MaxTracked: 1024,
				noFastParse: c.noFast, HooksOnly: c.hooksOnly}, frame)
		})
	}
}
