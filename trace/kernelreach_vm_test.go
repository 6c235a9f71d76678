package trace_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf/features"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/internal/netnstest"
	"github.com/pktlife/pktlife/internal/vm/vmtest"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// What a kernel offers, told by the kernel itself (sysfs, tracefs, the
// library's own probes), not by pktlife's decisions: the oracle for the
// tests that expect a fallback or a reported skip where a feature is
// missing, and the feature's use where it is there.

// hopModule names the module of each kernel-function hop the VM tests use
// that lives in one (Debian builds them as modules).
var hopModule = map[string]string{
	"bond_start_xmit": "bonding", "bond_handle_frame": "bonding",
	"ipvlan_queue_xmit": "ipvlan", "ipvlan_handle_frame": "ipvlan",
	"veth_xmit": "veth", "cls_bpf_classify": "cls_bpf",
}

// moduleHasBTF says whether sysfs offers BTF for a loaded module (kernels
// before 5.11 have BTF for vmlinux only).
func moduleHasBTF(mod string) bool {
	_, err := os.Stat("/sys/kernel/btf/" + mod)
	return err == nil
}

// kfreeHasReason says whether the kfree_skb tracepoint passes a drop
// reason, from its tracefs format (true where tracefs cannot tell).
func kfreeHasReason() bool {
	for _, p := range []string{"/sys/kernel/tracing/events/skb/kfree_skb/format", "/sys/kernel/debug/tracing/events/skb/kfree_skb/format"} {
		if b, err := os.ReadFile(p); err == nil {
			return strings.Contains(string(b), "reason")
		}
	}
	return true
}

// requireAttached checks that the hops attached with the mechanism this
// kernel should give for backend ("" is pktlife's own choice, fentry where
// it can). A module's hop with backend fentry where the module has no BTF
// must be reported, not attached: such hops are returned, with the reason.
func requireAttached(t *testing.T, tr *trace.Tracer, backend string, hops ...string) (reported map[string]string) {
	t.Helper()
	got := map[string]trace.Attachment{}
	for _, a := range tr.Attached() {
		got[a.Hop] = a
	}
	reported = map[string]string{}
	for _, h := range hops {
		a, ok := got[h]
		want := backend
		switch {
		case backend == "":
			want = trace.MechFentry
		case backend == trace.MechKprobeMulti && features.HaveBPFLinkKprobeMulti() != nil:
			want = trace.MechKprobe // no kprobe.multi (Debian's 5.10, 6.1): kprobes
		}
		if mod := hopModule[h]; mod != "" && !moduleHasBTF(mod) && want == trace.MechFentry {
			if backend == trace.MechFentry { // fentry only: impossible here
				if !ok || a.Err == nil || !strings.Contains(a.Err.Error(), "has no BTF") {
					t.Errorf("hop %s: %+v, want it reported: module %s has no BTF", h, a, mod)
				} else {
					reported[h] = a.Err.Error()
				}
				continue
			}
			want = trace.MechKprobe
		}
		if !ok || a.Err != nil {
			t.Fatalf("hop %s did not attach: %+v", h, a)
		}
		if a.Mechanism != want && !(want == trace.MechFentry && a.Mechanism == trace.MechFentry+"+fexit") {
			t.Errorf("hop %s attached with %s, want %s", h, a.Mechanism, want)
		}
	}
	return reported
}

// TestVMKernelFeatures: each feature pktlife reports matches what the
// kernel itself says, and every one it lacks comes with what pktlife does
// instead.
func TestVMKernelFeatures(t *testing.T) {
	release := vmtest.Require(t)
	fs, err := trace.ProbeFeatures()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"kprobe.multi":     features.HaveBPFLinkKprobeMulti() == nil,
		"module BTF":       moduleHasBTF("veth"),
		"kfree_skb reason": kfreeHasReason(),
	}
	for _, f := range fs {
		t.Logf("%s: %s available=%v: %s", release, f.Name, f.Available, f.Detail)
		if w, ok := want[f.Name]; ok && w != f.Available {
			t.Errorf("%s: available %v, the kernel says %v", f.Name, f.Available, w)
		}
		if f.Detail == "" {
			t.Errorf("%s: no detail", f.Name)
		}
	}
}

// TestVMNetkit: a packet across a netkit pair (kernels from 6.7) shows its
// tc hops on both devices, where pktlife attaches as on any device. On a
// kernel without netkit the test skips with the kernel's answer.
func TestVMNetkit(t *testing.T) {
	release := vmtest.Require(t)
	s := netnstest.Suffix()
	a := netnstest.New(t, "pl-nk-a-"+s)
	b := netnstest.New(t, "pl-nk-b-"+s)
	nk := &netlink.Netkit{LinkAttrs: netlink.LinkAttrs{Name: "nka"}, Mode: netlink.NETKIT_MODE_L2,
		Policy: netlink.NETKIT_POLICY_FORWARD, PeerPolicy: netlink.NETKIT_POLICY_FORWARD}
	nk.SetPeerAttrs(&netlink.LinkAttrs{Name: "nkb", Namespace: netlink.NsFd(int(podFd(t, b)))})
	if err := a.Handle().LinkAdd(nk); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || strings.Contains(err.Error(), "not supported") {
			t.Skipf("%s: no netkit: %v", release, err)
		}
		t.Fatalf("add netkit pair: %v", err)
	}
	addAddr(t, a, a.Link(t, "nka"), "10.71.0.1/24")
	addAddr(t, b, b.Link(t, "nkb"), "10.71.0.2/24")

	tr, journeys := start(t, trace.Options{
		Filter: trace.Filter{Proto: 17, Dport: 9400},
		Netns:  []string{a.Path, b.Path},
	})
	for _, at := range tr.Attached() {
		if at.Hop == "tc-egress" || at.Hop == "tc-ingress" {
			t.Logf("%s %s: %s %v", at.Hop, at.Where, at.Mechanism, at.Err)
		}
	}
	sendUDP(t, a, b, "10.71.0.1:0", "10.71.0.2:9400")
	j := waitJourney(t, journeys, func(j *journey.Journey) bool { return j.Tuple.Dst.Port() == 9400 && j.Fate == journey.FateDelivered })
	t.Logf("%s netkit: %s", release, hookSeq(j))
	if hopIndex(j, journey.HookTCEgress, "nka", "") < 0 || hopIndex(j, journey.HookTCIngress, "nkb", "") < 0 {
		t.Errorf("no tc-egress@nka or tc-ingress@nkb: [%s]", hookSeq(j))
	}
}
