package journey

import (
	"encoding/json"
	"net/netip"
	"time"
)

// hopJSON is a Hop's JSON form (schema v1): its fields, names and order
// are the schema's; Hop's own layout is free to differ.
type hopJSON struct {
	Index           int           `json:"index"`          // 1-based
	Node            string        `json:"node,omitempty"` // node the hop was seen on, in a multi-node timeline
	At              time.Duration `json:"at_ns"`          // since the first hop
	Delta           time.Duration `json:"delta_ns"`       // since the previous hop
	Time            uint64        `json:"ts"`             // kernel monotonic ns
	Hook            Hook          `json:"hook"`
	Kfunc           string        `json:"kfunc,omitempty"` // kernel function, for kfunc hooks
	Device          Device        `json:"device"`
	Skb             Ptr           `json:"skb"`
	CPU             uint16        `json:"cpu"`
	Len             uint32        `json:"len"`
	Mark            uint32        `json:"mark,omitempty"`
	Tuple           Tuple         `json:"tuple"`
	NATFrom         *Tuple        `json:"nat_from,omitempty"` // the tuple before this hop, when it changed here
	Progs           []Prog        `json:"progs,omitempty"`    // programs this tc hook runs after pktlife's observer
	TailCalls       []TailCall    `json:"tail_calls,omitempty"`
	Verdict         string        `json:"verdict,omitempty"` // TC_ACT_* name, observed or inferred
	VerdictInferred bool          `json:"verdict_inferred,omitempty"`
	VerdictFrom     string        `json:"verdict_from,omitempty"` // the hop an inferred verdict rests on
	DropReason      string        `json:"drop_reason,omitempty"`  // for kfree_skb; on a tc hop, the datapath's own
	Ret             *int64        `json:"ret,omitempty"`          // return value (fexit, kretprobe, net_dev_xmit rc)
}

// MarshalJSON writes the hop in its schema v1 form.
func (h Hop) MarshalJSON() ([]byte, error) {
	w := hopJSON{
		Index: h.Index, Node: h.Node(), At: h.At, Delta: h.Delta, Time: h.Time,
		Hook: h.Hook, Kfunc: h.Kfunc(), Device: h.Device, Skb: h.Skb, CPU: h.CPU,
		Len: h.Len, Mark: h.Mark, Tuple: h.Tuple, NATFrom: h.NATFrom,
		Progs: h.Progs, TailCalls: h.TailCalls, Verdict: h.Verdict,
		VerdictInferred: h.VerdictInferred, VerdictFrom: h.VerdictFrom(),
		DropReason: h.DropReason, Ret: h.Ret,
	}
	return json.Marshal(&w)
}

// UnmarshalJSON reads the hop's schema v1 form.
func (h *Hop) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as encoding/json leaves a struct
	}
	var w hopJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*h = Hop{
		Index: w.Index, At: w.At, Delta: w.Delta, Time: w.Time,
		Hook: w.Hook, Device: w.Device, Skb: w.Skb, CPU: w.CPU,
		Len: w.Len, Mark: w.Mark, Tuple: w.Tuple, NATFrom: w.NATFrom,
		Progs: w.Progs, TailCalls: w.TailCalls, Verdict: w.Verdict,
		VerdictInferred: w.VerdictInferred,
		DropReason:      w.DropReason, Ret: w.Ret,
	}
	h.SetNode(w.Node)
	h.SetKfunc(w.Kfunc)
	h.SetVerdictFrom(w.VerdictFrom)
	return nil
}

// tupleJSON is a Tuple's JSON form: the schema's fields in its order.
type tupleJSON struct {
	Proto    uint8          `json:"proto"`
	Src      netip.AddrPort `json:"src"`
	Dst      netip.AddrPort `json:"dst"`
	IPID     uint16         `json:"ip_id,omitempty"`
	TCPFlags uint8          `json:"tcp_flags,omitempty"`
}

// MarshalJSON writes the tuple in its schema v1 form.
func (t Tuple) MarshalJSON() ([]byte, error) {
	return json.Marshal(tupleJSON{Proto: t.Proto, Src: t.Src, Dst: t.Dst, IPID: t.IPID, TCPFlags: t.TCPFlags})
}

// UnmarshalJSON reads the tuple's schema v1 form.
func (t *Tuple) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var w tupleJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = Tuple{Proto: w.Proto, Src: w.Src, Dst: w.Dst, IPID: w.IPID, TCPFlags: w.TCPFlags}
	return nil
}
