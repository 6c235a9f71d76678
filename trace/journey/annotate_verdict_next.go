package journey

import (
	"strconv"
	"strings"
)

// verdictByNext infers the verdict of a tc hop whose programs ran and
// whose verdict nothing observed (no fexit, no drop notification), from
// the next hop of the same skb:
//
//   - at another device's ingress, or after tc egress on another device:
//     TC_ACT_REDIRECT (nothing else moves a packet there);
//   - after tc ingress, on another device's way out: "TC_ACT_OK or
//     TC_ACT_REDIRECT". The stack may have forwarded it, or a redirect
//     (bpf_redirect_neigh, which the demo datapath uses) sent it there; the
//     hooks pktlife has on this path see the same thing in both cases;
//   - on the same device, or delivered, freed, consumed: TC_ACT_OK.
//
// A kfree_skb with a tc drop reason is verdictByDrop's. Every verdict set
// here is marked inferred, and VerdictFrom names the hop it rests on.
type verdictByNext struct{}

func (verdictByNext) Annotate(j *Journey) {
	for i := range j.Hops {
		h := &j.Hops[i]
		if !h.Hook.IsTC() || h.Verdict != "" || (len(h.Progs) == 0 && len(h.TailCalls) == 0) {
			continue
		}
		next := nextOfSkb(j, i, h.Skb, nil)
		if next == nil || (next.Hook == HookKfreeSkb && isTCDrop(next.DropReason)) {
			continue
		}
		h.Verdict, h.VerdictInferred = verdictBefore(h, next), true
		h.SetVerdictFrom(next.Hook.String() + " " + deviceName(next.Device))
	}
}

// verdictBefore is the verdict tc hop h's programs gave, judged by next.
func verdictBefore(h, next *Hop) string {
	if sameDevice(next.Device, h.Device) || next.Device.Ifindex == 0 {
		return "TC_ACT_OK"
	}
	toIngress := next.Hook == HookNetifRx || next.Hook == HookNetifReceiveSkb || next.Hook == HookTCIngress
	switch {
	case h.Hook == HookTCEgress || toIngress:
		return "TC_ACT_REDIRECT"
	case next.Hook != HookSockDeliver && next.Hook != HookKfreeSkb && next.Hook != HookConsumeSkb:
		return VerdictOKOrRedirect
	}
	return "TC_ACT_OK"
}

// nextOfSkb is the first hop after hop i on skb (that ok accepts), or nil.
func nextOfSkb(j *Journey, i int, skb Ptr, ok func(*Hop) bool) *Hop {
	for k := i + 1; k < len(j.Hops); k++ {
		n := &j.Hops[k]
		if n.Skb == skb && (ok == nil || ok(n)) {
			return n
		}
	}
	return nil
}

func sameDevice(a, b Device) bool { return a.Ifindex == b.Ifindex && a.Netns == b.Netns }

func deviceName(d Device) string {
	if d.Name != "" {
		return d.Name
	}
	if d.Ifindex == 0 {
		return "(no device)"
	}
	return "if " + strconv.Itoa(int(d.Ifindex))
}

func isTCDrop(reason string) bool { return strings.HasPrefix(reason, "TC_") }

// VerdictOKOrRedirect is the inferred verdict of a tc ingress hop whose
// packet next left through another device: passed to the stack and
// forwarded, or redirected there.
const VerdictOKOrRedirect = "TC_ACT_OK or TC_ACT_REDIRECT"
