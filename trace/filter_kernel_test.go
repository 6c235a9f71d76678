package trace

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/filter"
	"github.com/pktlife/pktlife/filter/filtertest"
)

// TestFilterKernelAgrees runs pktlife's tc observer, loaded with each
// corpus expression compiled into its filter, on every generated packet
// (BPF_PROG_TEST_RUN) and wants the packets it counts as matched to be the
// ones filter.Program.Match accepts, which the filter package's test
// compares with tcpdump.
func TestFilterKernelAgrees(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	pkts := filtertest.Packets()
	exprs := append([]string{}, filtertest.Exprs...)
	for _, e := range filtertest.Exprs[1:9] {
		exprs = append(exprs, "("+e+") or port 1500 or not host 10.0.0.2 and tcp") // longer programs
	}
	for _, expr := range exprs {
		prog, err := filter.Compile(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		matched := runObserver(t, Filter{Expr: expr}, pkts)
		var n int
		for i := range pkts {
			want := prog.Match(&pkts[i])
			if want {
				n++
			}
			if matched[i] != want {
				t.Errorf("%q: packet %d (%+v): kernel %v, Go %v", expr, i, pkts[i], matched[i], want)
				break
			}
		}
		if testing.Verbose() {
			t.Logf("%q: %d tests, %d of %d packets match", expr, len(prog), n, len(pkts))
		}
	}
}

// TestFilterKernelReply checks that --reply applies to the expression: the
// reverse of a matching packet matches too.
func TestFilterKernelReply(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	pkts := filtertest.Packets()
	const expr = "udp and src host 10.0.0.1 and dst portrange 1000-3000 or src host fd00::2"
	prog, err := filter.Compile(expr)
	if err != nil {
		t.Fatal(err)
	}
	matched := runObserver(t, Filter{Expr: expr, Reply: true}, pkts)
	var extra int
	for i := range pkts {
		p := pkts[i]
		rev := p
		rev.Src, rev.Dst, rev.Sport, rev.Dport = p.Dst, p.Src, p.Dport, p.Sport
		want := prog.Match(&p) || prog.Match(&rev)
		if matched[i] != want {
			t.Fatalf("packet %d (%+v): kernel %v, want %v", i, p, matched[i], want)
		}
		if want && !prog.Match(&p) {
			extra++
		}
	}
	if extra == 0 {
		t.Fatal("no packet matched only in reverse: the test proves nothing")
	}
}

// runObserver loads the tc ingress observer with f and runs it on each
// packet's frame; it reports which packets the kernel counted as matched.
func runObserver(t *testing.T, f Filter, pkts []filter.Packet) []bool {
	t.Helper()
	// a tracked skb is forgotten at once: each run is judged by the filter
	// alone, even where the kernel reuses an skb's address
	// Small maps, closed at once: a VM's memory holds a few at a time.
	o := Options{Filter: f, TrackIdle: 1, RingSize: 64 << 10, MaxTracked: 1024}
	objs := armedObjects(t, o)
	defer objs.Close()
	p, err := objs.load(bpf.PktlifeProgPlTcIngress, progLoad{})
	if err != nil {
		t.Fatalf("%q: %v", f.Expr, err)
	}
	defer p.Close()
	matched := make([]bool, len(pkts))
	before := matchedCount(t, objs)
	for i := range pkts {
		if _, err := p.Run(&ebpf.RunOptions{Data: filtertest.Frame(&pkts[i])}); err != nil {
			t.Fatalf("run observer: %v", err)
		}
		after := matchedCount(t, objs)
		matched[i] = after != before
		before = after
	}
	return matched
}

func matchedCount(t testing.TB, objs *objects) uint64 {
	t.Helper()
	var per []uint64
	if err := objs.maps.Stats.Lookup(uint32(bpf.PktlifePlStatPL_STAT_MATCHED), &per); err != nil {
		t.Fatalf("read stats: %v", err)
	}
	var sum uint64
	for _, v := range per {
		sum += v
	}
	return sum
}

// TestFilterEnumsAgree checks that package filter's kinds, sides and jump
// ends are the values bpf/pktlife.h gives them: filter stays free of the
// BPF objects, so that the kubectl plugin can check expressions.
func TestFilterEnumsAgree(t *testing.T) {
	for _, c := range []struct{ got, want uint32 }{
		{uint32(filter.KindFamily), uint32(bpf.PktlifePlFilterKindPL_FK_FAMILY)},
		{uint32(filter.KindProto), uint32(bpf.PktlifePlFilterKindPL_FK_PROTO)},
		{uint32(filter.KindNet), uint32(bpf.PktlifePlFilterKindPL_FK_NET)},
		{uint32(filter.KindPort), uint32(bpf.PktlifePlFilterKindPL_FK_PORT)},
		{uint32(filter.KindTCPFlags), uint32(bpf.PktlifePlFilterKindPL_FK_TCPFLAGS)},
		{uint32(filter.SideSrc), uint32(bpf.PktlifePlFilterSidePL_SIDE_SRC)},
		{uint32(filter.SideDst), uint32(bpf.PktlifePlFilterSidePL_SIDE_DST)},
		{uint32(filter.SideEither), uint32(bpf.PktlifePlFilterSidePL_SIDE_EITHER)},
		{uint32(filter.SideBoth), uint32(bpf.PktlifePlFilterSidePL_SIDE_BOTH)},
		{uint32(filter.Accept), uint32(bpf.PktlifePlFilterEndPL_FILTER_ACCEPT)},
		{uint32(filter.Reject), uint32(bpf.PktlifePlFilterEndPL_FILTER_REJECT)},
	} {
		if c.got != c.want {
			t.Errorf("filter's value %d, bpf/pktlife.h's %d", c.got, c.want)
		}
	}
	if filter.MaxInsns != len(bpf.PktlifeFilter{}.Prog) {
		t.Errorf("filter.MaxInsns %d, PL_FILTER_INSNS %d", filter.MaxInsns, len(bpf.PktlifeFilter{}.Prog))
	}
}

// BenchmarkFilterObserver measures the tc observer on a packet that the
// filter rejects at its last test, so that the time is parsing and
// matching, not reporting: without a filter the packet is reported, so
// that case uses a filter no packet passes (--proto 255).
func BenchmarkFilterObserver(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to load BPF programs")
	}
	pkt := filter.Packet{Family: 4, Proto: 17, Ports: true, Sport: 40000, Dport: 54,
		Src: filtertest.Packets()[0].Src, Dst: filtertest.Packets()[0].Dst}
	frame := filtertest.Frame(&pkt)
	for _, c := range []struct {
		name string
		f    Filter
	}{
		{"flags-proto", Filter{Proto: 255}},
		{"flags-proto-dport", Filter{Proto: 17, Dport: 53}},
		{"expr-1", Filter{Expr: "proto 255"}},
		{"expr-2", Filter{Expr: "udp and dst port 53"}},
		{"expr-8", Filter{Expr: "net 10.0.0.0/8 and udp and not port 22 and (dst port 53 or dst port 5353 or dst portrange 8000-9000) and not host 10.9.9.9 and dst port 1"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			objs := benchTCIngress(b, Options{Filter: c.f, RingSize: 64 << 10, MaxTracked: 1024}, frame)
			if n := matchedCount(b, objs); n != 0 {
				b.Fatalf("%d packets matched, want none", n)
			}
		})
	}
}

// TestFilterVerifierCost loads the observers (tc, tracepoint, socket and
// kprobe: a kprobe program loads here, though it cannot attach) with the
// costliest kind of expression found (16 tests, many paths of different
// lengths to the same test, --reply) and wants the verifier's work well under its limit of a
// million instructions: the verifier follows the program's jumps with
// constant targets, pruning where a round and a test meet again, so its
// work grows with the number of (round, test) pairs, not of paths.
func TestFilterVerifierCost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	const worst = "not (port 1 or port 2 or port 3 or port 4 or port 5 or port 6 or port 7 or port 8) and " +
		"(host 10.0.0.1 or net fd00::/8 or tcp[tcpflags] & tcp-syn != 0 or icmp or udp or sctp or portrange 1-9 or ip6)"
	o := Options{Filter: Filter{Expr: worst, Reply: true}, RingSize: 64 << 10, MaxTracked: 1024}
	setDefaults(&o)
	objs, err := loadObjects(&o)
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	for _, name := range []string{bpf.PktlifeProgPlTcIngress, bpf.PktlifeProgPlTpKfreeSkb, bpf.PktlifeProgPlSockIngress, bpf.PktlifeProgPlKprobe11} {
		p, err := objs.load(name, progLoad{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		info, err := p.Info()
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		n, ok := info.VerifiedInstructions()
		if !ok {
			// bpf_prog_info.verified_insns came in 5.16; the program
			// loaded, so it is within this kernel's limit
			t.Skipf("%s loaded, but this kernel does not report how many instructions it verified (5.16 and later do)", name)
		}
		t.Logf("%s: %d instructions verified", name, n)
		if n > 400_000 {
			t.Errorf("%s: %d instructions verified, want at most 400000 (the limit is 1000000)", name, n)
		}
	}
}

// benchTCIngress loads pktlife's tc ingress observer with o and runs frame
// through it b.N times with BPF_PROG_TEST_RUN, reporting ns per packet. It
// returns the objects, open until the benchmark ends, for their counters.
func benchTCIngress(b *testing.B, o Options, frame []byte) *objects {
	b.Helper()
	objs := armedObjects(b, o)
	b.Cleanup(func() { objs.Close() })
	p, err := objs.load(bpf.PktlifeProgPlTcIngress, progLoad{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ResetTimer()
	_, per, err := p.Benchmark(frame, b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(per.Nanoseconds()), "ns/packet")
	return objs
}

// armedObjects loads the objects for o (with its defaults set) and arms
// them, as New does once attached, so that test runs of single programs
// can start journeys. The caller closes them: tests that load many sets
// must close each at once, since a VM's 1 GiB holds only a few.
func armedObjects(tb testing.TB, o Options) *objects {
	tb.Helper()
	setDefaults(&o)
	objs, err := loadObjects(&o)
	if err != nil {
		tb.Fatalf("load objects: %v", err)
	}
	if err := objs.arm(); err != nil {
		objs.Close()
		tb.Fatal(err)
	}
	return objs
}
