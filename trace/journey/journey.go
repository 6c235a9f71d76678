package journey

import "time"

// SchemaVersion is the version of the JSON form of Journey. It changes when
// a field changes meaning or goes away; adding a field does not change it.
const SchemaVersion = 1

// Device names a network device in a network namespace.
type Device struct {
	Name      string `json:"name,omitempty"`
	Ifindex   uint32 `json:"ifindex"`
	Netns     uint32 `json:"netns"`                // namespace inode
	NetnsName string `json:"netns_name,omitempty"` // e.g. a /run/netns name, "host"
}

// Prog names a BPF program.
type Prog struct {
	ID   uint32 `json:"id"`
	Name string `json:"name,omitempty"` // full name, from BTF where available
}

// TailCall is one bpf_tail_call a packet made inside a tc hop.
type TailCall struct {
	At       time.Duration `json:"at_ns"`         // since the journey's first hop
	Map      string        `json:"map,omitempty"` // prog_array name
	MapID    uint32        `json:"map_id"`
	Slot     uint32        `json:"slot"`
	Prog     Prog          `json:"prog"`               // the program jumped to
	Missed   bool          `json:"missed,omitempty"`   // the slot was empty: execution fell through
	Inferred bool          `json:"inferred,omitempty"` // from the program graph, not observed per packet
	// Observed by the shim at the jump: the skb's cb[] words and the
	// packet's tuple as the programs before the jump left it.
	CB    [5]uint32 `json:"cb,omitzero"`
	Tuple Tuple     `json:"-"`
	// Reason is what a datapath-specific annotation read from CB, e.g.
	// Cilium's drop reason handed to its drop-notification program.
	Reason string `json:"reason,omitempty"`
}

// NAT is a change of the packet's tuple on one skb.
type NAT struct {
	Hop  int    `json:"hop"` // index of the first hop that saw New
	Old  Tuple  `json:"old"`
	New  Tuple  `json:"new"`
	Kind string `json:"kind"` // "dnat", "snat" or "nat" (both sides)
	// Where it was done, when a tc hop's programs did it: that hop's index,
	// and the program, when the tail-call shims saw the tuple change after
	// it; Inferred when only the hop is known (its programs, or the kernel
	// after them, rewrote the packet before the next hop saw it).
	ByHop    int    `json:"by_hop,omitempty"`
	Prog     string `json:"prog,omitempty"`
	Inferred bool   `json:"inferred,omitempty"`
}

// Hop is one place the packet was seen.
//
// A journey holds one Hop per event, so its size is most of what the
// pipeline allocates: fields are ordered so that the small ones pack, and
// what few hops have (a node, a kernel function, the hop an inferred
// verdict rests on, captured bytes) lives behind one pointer, read with
// Node, Kfunc, VerdictFrom and Packet and set with their setters. The
// JSON form is hopJSON's (hop_json.go), which keeps schema v1's fields and
// order; the tags here name the same fields.
type Hop struct {
	Index      int           `json:"index"`    // 1-based
	At         time.Duration `json:"at_ns"`    // since the first hop
	Delta      time.Duration `json:"delta_ns"` // since the previous hop
	Time       uint64        `json:"ts"`       // kernel monotonic ns
	Skb        Ptr           `json:"skb"`
	Tuple      Tuple         `json:"tuple"`
	Device     Device        `json:"device"`
	NATFrom    *Tuple        `json:"nat_from,omitempty"` // the tuple before this hop, when it changed here
	Progs      []Prog        `json:"progs,omitempty"`    // programs this tc hook runs after pktlife's observer
	TailCalls  []TailCall    `json:"tail_calls,omitempty"`
	Verdict    string        `json:"verdict,omitempty"`     // TC_ACT_* name, observed or inferred
	DropReason string        `json:"drop_reason,omitempty"` // for kfree_skb; on a tc hop, the datapath's own (Cilium's)
	Ret        *int64        `json:"ret,omitempty"`         // return value (fexit, kretprobe, net_dev_xmit rc)
	rare       *hopRare      // Node, Kfunc, VerdictFrom, Packet
	Len        uint32        `json:"len"`
	Mark       uint32        `json:"mark,omitempty"`
	// reason is the event's number that the annotate stage names: the drop
	// reason of a kfree_skb hop, the hop id of a kernel-function hop.
	reason          uint32
	CPU             uint16 `json:"cpu"`
	Hook            Hook   `json:"hook"`
	VerdictInferred bool   `json:"verdict_inferred,omitempty"`
}

// hopRare holds what few hops have. It is shared by copies of a Hop and
// never changed once set: the setters replace it.
type hopRare struct {
	node        string
	kfunc       string
	verdictFrom string
	packet      []byte
}

// Node is the node the hop was seen on, in a multi-node timeline.
func (h *Hop) Node() string {
	if h.rare == nil {
		return ""
	}
	return h.rare.node
}

// Kfunc is the kernel function of a kfunc hook's hop.
func (h *Hop) Kfunc() string {
	if h.rare == nil {
		return ""
	}
	return h.rare.kfunc
}

// VerdictFrom is the hop an inferred verdict rests on, e.g.
// "tc-egress lxc-podb".
func (h *Hop) VerdictFrom() string {
	if h.rare == nil {
		return ""
	}
	return h.rare.verdictFrom
}

// Packet is the packet's first bytes from its network header, as the
// kernel saw them at this hop, when the tracer captured them (for
// render/pcapng); not part of the JSON form.
func (h *Hop) Packet() []byte {
	if h.rare == nil {
		return nil
	}
	return h.rare.packet
}

// SetNode sets Node.
func (h *Hop) SetNode(s string) { h.setRare(func(r *hopRare) { r.node = s }) }

// SetKfunc sets Kfunc.
func (h *Hop) SetKfunc(s string) { h.setRare(func(r *hopRare) { r.kfunc = s }) }

// SetVerdictFrom sets VerdictFrom.
func (h *Hop) SetVerdictFrom(s string) { h.setRare(func(r *hopRare) { r.verdictFrom = s }) }

// SetPacket sets Packet.
func (h *Hop) SetPacket(p []byte) { h.setRare(func(r *hopRare) { r.packet = p }) }

func (h *Hop) setRare(set func(*hopRare)) {
	var r hopRare
	if h.rare != nil {
		r = *h.rare
	}
	set(&r)
	if r.node == "" && r.kfunc == "" && r.verdictFrom == "" && r.packet == nil {
		h.rare = nil
		return
	}
	h.rare = &r
}

// Fate is how a journey ended.
type Fate string

const (
	FateDelivered   Fate = "delivered"   // copied to a local socket
	FateDropped     Fate = "dropped"     // kfree_skb with a drop reason
	FateConsumed    Fate = "consumed"    // freed normally without a delivery seen
	FateTransmitted Fate = "transmitted" // left through a device, no further hop seen
	FateUnknown     Fate = "unknown"     // idle timeout or trace ended
)

// End says what closed a journey.
type End string

const (
	EndFree      End = "free"      // kfree_skb or consume_skb
	EndIdle      End = "idle"      // no event for the idle timeout
	EndEvicted   End = "evicted"   // the in-flight cap was reached
	EndFlush     End = "flush"     // the trace ended
	EndReused    End = "reused"    // the skb address carried another packet before a free was seen
	EndDelivered End = "delivered" // handed to a socket; the kernel shows no free of the skb
)

// Journey is the life of one packet on this node.
type Journey struct {
	Schema     int           `json:"schema"`
	ID         uint64        `json:"id"`
	Node       string        `json:"node,omitempty"` // host name, set by the tracer
	Skb        Ptr           `json:"skb"`
	Clones     []Ptr         `json:"clones,omitempty"` // other skbs that carried the same packet
	Start      uint64        `json:"start_ts"`         // kernel monotonic ns of the first hop
	StartWall  time.Time     `json:"start_time"`
	Duration   time.Duration `json:"duration_ns"`
	Tuple      Tuple         `json:"tuple"` // as first seen
	Hops       []Hop         `json:"hops"`
	NAT        []NAT         `json:"nat,omitempty"`
	Fate       Fate          `json:"fate"`
	DropReason string        `json:"drop_reason,omitempty"`
	End        End           `json:"end"`
	// owner is the correlator's allocation the journey lives in, which
	// Release hands back; nil for a journey made elsewhere.
	owner *flightJourney
}

// Last returns the last hop, or nil.
func (j *Journey) Last() *Hop {
	if len(j.Hops) == 0 {
		return nil
	}
	return &j.Hops[len(j.Hops)-1]
}
