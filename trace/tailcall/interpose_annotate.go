package tailcall

import "github.com/pktlife/pktlife/trace/journey"

// Notices returns, once each, what interposition has to report: slots
// restored from a killed pktlife's journal at start, slots skipped, and,
// after Close, slots their owner changed meanwhile (left alone).
func (ip *Interposer) Notices() []string {
	out := ip.notices[ip.noticed:]
	ip.noticed = len(ip.notices)
	return out
}

// Annotate adds, to each tc hop, the tail calls into empty slots
// that the chain's last program makes with a constant index, marked
// Missed and Inferred: a jump into an empty slot falls through inside the
// caller, where no shim can be. The last program is the target of the
// hop's last observed jump, or the hook's programs when none was observed.
// A program that returned before reaching such a call is reported all the
// same; hence Inferred.
func (ip *Interposer) Annotate(j *journey.Journey) {
	if len(ip.missed) == 0 {
		return
	}
	for i := range j.Hops {
		h := &j.Hops[i]
		if !h.Hook.IsTC() {
			continue
		}
		at := h.At
		var last []uint32
		if n := len(h.TailCalls); n > 0 {
			if h.TailCalls[n-1].Missed {
				continue
			}
			last, at = []uint32{h.TailCalls[n-1].Prog.ID}, h.TailCalls[n-1].At
		} else {
			for _, p := range h.Progs {
				last = append(last, p.ID)
			}
		}
		for _, id := range last {
			for _, tc := range ip.missed[id] {
				tc.At = at
				h.TailCalls = append(h.TailCalls, tc)
			}
		}
	}
}
