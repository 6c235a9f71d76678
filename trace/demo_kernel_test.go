package trace_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/internal/netnstest"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// demoSetup builds the demo topology and datapath with echo servers in pod B.
func demoSetup(t *testing.T, legacy bool) *demo.Topology {
	t.Helper()
	netnstest.RequireRoot(t)
	ctx := context.Background()
	topo, err := demo.NewTopology(ctx, demo.Options{Prefix: "pl-test"})
	if err != nil {
		t.Fatalf("build topology: %v", err)
	}
	t.Cleanup(func() {
		if err := topo.Close(); err != nil {
			t.Errorf("close topology: %v", err)
		}
	})
	dp, err := demo.LoadDatapath(topo, demo.DatapathOptions{Legacy: legacy})
	if err != nil && !legacy && errors.Is(err, ebpf.ErrNotSupported) {
		// no tcx before 6.6 (the VM's 6.1): the datapath uses clsact, and
		// pktlife's observers fall back to clsact too
		dp, err = demo.LoadDatapath(topo, demo.DatapathOptions{Legacy: true})
	}
	if err != nil {
		t.Fatalf("load datapath: %v", err)
	}
	t.Cleanup(func() { dp.Close() })
	udp, err := demo.StartUDPEcho(ctx, topo.PodB.Path, topo.Backend())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	tcp, err := demo.StartTCPEcho(ctx, topo.PodB.Path, topo.Backend())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	return topo
}

func demoNetns(topo *demo.Topology) []string {
	var out []string
	for _, n := range topo.Namespaces() {
		out = append(out, n.Path)
	}
	return out
}

// recordWhile runs fn while recording the tracer's events, waits until the
// kernel has been quiet for a while, and returns the stream.
func recordWhile(t *testing.T, tr *trace.Tracer, fn func()) (*journey.Static, []journey.Event) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		names *journey.Static
		evs   []journey.Event
		err   error
	}
	done := make(chan result, 1)
	go func() {
		n, e, err := tr.Record(ctx)
		done <- result{n, e, err}
	}()
	fn()
	// quiet: no new event for 300 ms (bounded at 5 s)
	last, stable := tr.Stats().Events, 0
	for i := 0; i < 100 && stable < 6; i++ {
		<-time.After(50 * time.Millisecond)
		if cur := tr.Stats().Events; cur != last {
			last, stable = cur, 0
		} else {
			stable++
		}
	}
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatalf("record: %v", r.err)
	}
	return r.names, r.evs
}

func correlate(names *journey.Static, evs []journey.Event) []*journey.Journey {
	var out []*journey.Journey
	c := journey.New(journey.Options{Resolver: names, Emit: func(j *journey.Journey) { out = append(out, j) }})
	for i := range evs {
		c.Add(&evs[i])
	}
	c.Flush()
	slices.SortFunc(out, func(a, b *journey.Journey) int { return int(int64(a.Start) - int64(b.Start)) })
	return out
}

func findJourney(t *testing.T, js []*journey.Journey, desc string, pred func(*journey.Journey) bool) *journey.Journey {
	t.Helper()
	for _, j := range js {
		if pred(j) {
			return j
		}
	}
	var all []string
	for _, j := range js {
		all = append(all, fmt.Sprintf("%s %s [%s]", j.Tuple, j.Fate, hookSeq(j)))
	}
	t.Fatalf("no journey %s among:\n%s", desc, strings.Join(all, "\n"))
	return nil
}

// hopIndex returns the index of the first hop with the hook on the device
// (by name) in the namespace (by name suffix), or -1.
func hopIndex(j *journey.Journey, hook journey.Hook, dev, nsSuffix string) int {
	for i, h := range j.Hops {
		if h.Hook == hook && (dev == "" || h.Device.Name == dev) && strings.HasSuffix(h.Device.NetnsName, nsSuffix) {
			return i
		}
	}
	return -1
}

// assertOrder checks that the hops appear in the journey in this order.
func assertOrder(t *testing.T, j *journey.Journey, steps ...struct {
	hook       journey.Hook
	dev, netns string
}) {
	t.Helper()
	prev := -1
	for _, s := range steps {
		i := hopIndex(j, s.hook, s.dev, s.netns)
		if i < 0 || i < prev {
			t.Errorf("journey %s: hop %s@%s(%s) missing or out of order in [%s]", j.Tuple, s.hook, s.dev, s.netns, hookSeq(j))
			return
		}
		prev = i
	}
}

type step = struct {
	hook       journey.Hook
	dev, netns string
}

func TestDemoJourneys(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := "tcx"
		if legacy {
			name = "legacy"
		}
		t.Run(name, func(t *testing.T) { testDemoJourneys(t, legacy) })
	}
}

func testDemoJourneys(t *testing.T, legacy bool) {
	topo := demoSetup(t, legacy)
	podA := topo.PodA.IP()
	tr, err := trace.New(trace.Options{
		Filter:    trace.Filter{Host: netip.PrefixFrom(podA, 32)},
		Netns:     demoNetns(topo),
		LegacyTC:  legacy,
		TailCalls: trace.TailCallsInterpose,
	})
	if err != nil {
		t.Fatalf("new tracer: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			tr.Close()
		}
	})
	for _, a := range tr.Attached() {
		if a.Err != nil && mustAttach(a.Hop) {
			t.Errorf("attach %s at %s: %v", a.Hop, a.Where, a.Err)
		}
		if a.Hop == "tc-ingress" && legacy && a.Mechanism != trace.MechClsact {
			t.Errorf("legacy mode attached with %s", a.Mechanism)
		}
	}
	names, evs := recordWhile(t, tr, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := demo.UDPRoundTrip(ctx, topo.PodA.Path, topo.Service, []byte("udp")); err != nil {
			t.Errorf("udp round trip: %v", err)
		}
		if _, err := demo.TCPRoundTrip(ctx, topo.PodA.Path, topo.Service, []byte("tcp")); err != nil {
			t.Errorf("tcp round trip: %v", err)
		}
		if err := demo.SendUDP(ctx, topo.PodA.Path, netip.AddrPortFrom(demo.ServiceAddr, demo.DenyPort), []byte("deny")); err != nil {
			t.Errorf("send denied udp: %v", err)
		}
	})
	if s := tr.Stats(); s.Lost != 0 {
		t.Errorf("lost %d events", s.Lost)
	}
	checkLive(t, tr)
	if err := tr.Close(); err != nil {
		t.Errorf("close tracer: %v", err)
	}
	closed = true
	assertNothingLeft(t, topo, legacy)

	if dir := os.Getenv("PKTLIFE_RECORD"); dir != "" && !legacy {
		f, err := os.Create(filepath.Join(dir, "demo.ndjson"))
		if err != nil {
			t.Fatal(err)
		}
		if err := journey.WriteStream(f, names, evs); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}

	js := correlate(names, evs)
	for _, j := range js {
		// every packet the demo sends is IP: an skb without a tuple was
		// taken for a followed packet at a reused address
		if !j.Tuple.Valid() {
			t.Errorf("journey %d has no IP tuple: %s", j.ID, hookSeq(j))
		}
	}
	vip := topo.Service
	backend := topo.Backend()

	udp := findJourney(t, js, "UDP to the VIP", func(j *journey.Journey) bool {
		return j.Tuple.Proto == 17 && j.Tuple.Dst == vip
	})
	if udp.Fate != journey.FateDelivered {
		t.Errorf("udp request fate = %s, want delivered", udp.Fate)
	}
	if len(udp.NAT) == 0 || udp.NAT[0].Kind != "dnat" || udp.NAT[0].New.Dst != backend {
		t.Errorf("udp request NAT = %+v, want dnat to %s", udp.NAT, backend)
	}
	assertOrder(t, udp,
		step{journey.HookSockSend, "eth0", "poda"},
		step{journey.HookTCIngress, demo.PodANodeIf, "node"},
		step{journey.HookTCEgress, demo.PodBNodeIf, "node"},
		step{journey.HookTCIngress, "eth0", "podb"},
		step{journey.HookSockDeliver, "", "podb"},
	)
	if i := hopIndex(udp, journey.HookTCIngress, demo.PodANodeIf, "node"); i >= 0 {
		progs := udp.Hops[i].Progs
		if len(progs) != 1 || progs[0].Name != "demo_from_pod" {
			t.Errorf("progs at %s ingress = %+v, want demo_from_pod", demo.PodANodeIf, progs)
		}
		tcs := udp.Hops[i].TailCalls
		if len(tcs) != 2 || tcs[0].Prog.Name != "demo_nat" || tcs[1].Prog.Name != "demo_policy" || tcs[0].Map != "demo_calls" {
			t.Errorf("tail calls at %s ingress = %+v, want demo_calls/0 demo_nat, demo_calls/1 demo_policy", demo.PodANodeIf, tcs)
		}
	}

	reply := findJourney(t, js, "UDP reply", func(j *journey.Journey) bool {
		return j.Tuple.Proto == 17 && j.Tuple.Src == backend && j.Tuple.Dst.Addr() == podA
	})
	if reply.Fate != journey.FateDelivered || len(reply.NAT) == 0 || reply.NAT[0].Kind != "snat" || reply.NAT[0].New.Src != vip {
		t.Errorf("udp reply: fate %s NAT %+v, want delivered with snat to %s", reply.Fate, reply.NAT, vip)
	}

	syn := findJourney(t, js, "TCP SYN", func(j *journey.Journey) bool {
		return j.Tuple.Proto == 6 && j.Tuple.Dst == vip && j.Tuple.TCPFlags&0x12 == 0x02
	})
	if syn.Fate != journey.FateDelivered || len(syn.NAT) == 0 || syn.NAT[0].New.Dst != backend {
		t.Errorf("tcp syn: fate %s NAT %+v", syn.Fate, syn.NAT)
	}

	denied := findJourney(t, js, "denied UDP", func(j *journey.Journey) bool {
		return j.Tuple.Dst.Port() == demo.DenyPort
	})
	wantReason := "TC_INGRESS"
	if !kfreeHasReason() { // before 5.17: a drop without reason, so no verdict inferred from it
		wantReason = ""
		t.Logf("kfree_skb passes no drop reason on this kernel: no reason, no inferred TC_ACT_SHOT")
	}
	if denied.Fate != journey.FateDropped || denied.DropReason != wantReason {
		t.Errorf("denied: fate %s reason %q, want dropped %q", denied.Fate, denied.DropReason, wantReason)
	}
	if i := hopIndex(denied, journey.HookTCIngress, demo.PodANodeIf, "node"); wantReason != "" && (i < 0 || denied.Hops[i].Verdict != "TC_ACT_SHOT") {
		t.Errorf("denied: no TC_ACT_SHOT verdict at %s ingress: [%s]", demo.PodANodeIf, hookSeq(denied))
	}
	if last := denied.Last(); last.Hook != journey.HookKfreeSkb || last.Device.Name != demo.PodANodeIf {
		t.Errorf("denied: last hop %s@%s, want kfree_skb@%s", last.Hook, last.Device.Name, demo.PodANodeIf)
	}
	for _, h := range denied.Hops {
		if strings.HasSuffix(h.Device.NetnsName, "podb") {
			t.Errorf("denied packet reached pod B: [%s]", hookSeq(denied))
		}
	}
}

// assertNothingLeft checks that no pktlife program stays attached to the
// topology's devices, and that qdiscs pktlife did not create are still there.
func assertNothingLeft(t *testing.T, topo *demo.Topology, legacy bool) {
	t.Helper()
	for _, ns := range topo.Namespaces() {
		left, err := netnstest.PktlifeAttachments(ns.Do)
		if err != nil {
			t.Errorf("inspect %s: %v", ns.Name, err)
		}
		for _, l := range left {
			t.Errorf("left attached in %s: %s", ns.Name, l)
		}
		err = ns.Do(func() error {
			links, err := netlink.LinkList()
			if err != nil {
				return err
			}
			for _, l := range links {
				qs, _ := netlink.QdiscList(l)
				hasClsact := slices.ContainsFunc(qs, func(q netlink.Qdisc) bool { return q.Type() == "clsact" })
				isDemoDev := l.Attrs().Name == demo.PodANodeIf || l.Attrs().Name == demo.PodBNodeIf
				if legacy && isDemoDev && !hasClsact {
					t.Errorf("the demo datapath's clsact qdisc on %s was removed", l.Attrs().Name)
				}
				if !isDemoDev && hasClsact {
					t.Errorf("a clsact qdisc pktlife created is left on %s in %s", l.Attrs().Name, ns.Name)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("inspect %s: %v", ns.Name, err)
		}
	}
}
