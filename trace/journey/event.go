package journey

import (
	"fmt"
	"net/netip"
)

// Hook says where an event was observed. The values equal bpf/pktlife.h's
// enum pl_hook; trace/catalog_test.go fails when they do not.
type Hook uint8

const (
	HookUnspec          Hook = 0
	HookTCIngress       Hook = 1
	HookTCEgress        Hook = 2
	HookNetifRx         Hook = 3
	HookNetifReceiveSkb Hook = 4
	HookNetDevQueue     Hook = 5
	HookNetDevStartXmit Hook = 6
	HookNetDevXmit      Hook = 7
	HookKfreeSkb        Hook = 8
	HookConsumeSkb      Hook = 9
	HookSockDeliver     Hook = 10
	HookTailCall        Hook = 11
	HookProgEntry       Hook = 12
	HookProgExit        Hook = 13
	HookKfunc           Hook = 14
	HookKfuncRet        Hook = 15
	HookSockSend        Hook = 16
	hookMax             Hook = 17
)

var hookNames = [hookMax]string{
	HookUnspec:          "unspec",
	HookTCIngress:       "tc-ingress",
	HookTCEgress:        "tc-egress",
	HookNetifRx:         "netif_rx",
	HookNetifReceiveSkb: "netif_receive_skb",
	HookNetDevQueue:     "net_dev_queue",
	HookNetDevStartXmit: "net_dev_start_xmit",
	HookNetDevXmit:      "net_dev_xmit",
	HookKfreeSkb:        "kfree_skb",
	HookConsumeSkb:      "consume_skb",
	HookSockDeliver:     "sock_deliver",
	HookTailCall:        "tail_call",
	HookProgEntry:       "prog_entry",
	HookProgExit:        "prog_exit",
	HookKfunc:           "kfunc",
	HookKfuncRet:        "kfunc_ret",
	HookSockSend:        "sock_send",
}

// String returns the hook's stable name, as used in JSON.
func (h Hook) String() string {
	if h < hookMax {
		return hookNames[h]
	}
	return fmt.Sprintf("hook-%d", uint8(h))
}

// ParseHook is the inverse of Hook.String.
func ParseHook(s string) (Hook, error) {
	for i, n := range hookNames {
		if n == s {
			return Hook(i), nil
		}
	}
	return 0, fmt.Errorf("unknown hook %q", s)
}

// MarshalText implements encoding.TextMarshaler.
func (h Hook) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hook) UnmarshalText(b []byte) error {
	v, err := ParseHook(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// IsTC reports whether the hook is one of pktlife's tc observers.
func (h Hook) IsTC() bool { return h == HookTCIngress || h == HookTCEgress }

// Sub reports whether events at this hook belong under the previous hop
// rather than forming a hop of their own (tail calls, program entry/exit).
func (h Hook) Sub() bool {
	return h == HookTailCall || h == HookProgEntry || h == HookProgExit
}

// Event flags; equal to bpf/pktlife.h's enum pl_flags (trace/catalog_test.go
// checks it).
const (
	FlagTuple   uint8 = 1 << 0 // the tuple was parsed from the packet
	FlagTracked uint8 = 1 << 1 // emitted because the skb was followed, not by a match
	FlagL4      uint8 = 1 << 2 // ports are valid
)

// Tuple identifies a packet's flow. Ports are zero when FlagL4 is unset.
// The small fields come last, where they share one word (every hop holds a
// tuple); the JSON form keeps the schema's order (tupleJSON).
type Tuple struct {
	Src      netip.AddrPort `json:"src"`
	Dst      netip.AddrPort `json:"dst"`
	IPID     uint16         `json:"ip_id,omitempty"`
	Proto    uint8          `json:"proto"`
	TCPFlags uint8          `json:"tcp_flags,omitempty"`
}

// Valid reports whether the tuple holds addresses.
func (t Tuple) Valid() bool { return t.Src.Addr().IsValid() }

// Reverse returns the tuple of the reply direction.
func (t Tuple) Reverse() Tuple {
	return Tuple{Proto: t.Proto, Src: t.Dst, Dst: t.Src}
}

// Flow returns the tuple without per-packet fields (IP ID, TCP flags).
func (t Tuple) Flow() Tuple { return Tuple{Proto: t.Proto, Src: t.Src, Dst: t.Dst} }

// ProtoName returns "tcp", "udp", "icmp", … or the number.
func (t Tuple) ProtoName() string { return ProtoName(t.Proto) }

// ProtoName names an IP protocol number.
func ProtoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	case 132:
		return "sctp"
	}
	return fmt.Sprintf("proto-%d", p)
}

// String formats the flow as "udp 10.0.0.1:5000 → 10.0.0.2:53".
func (t Tuple) String() string {
	if !t.Valid() {
		return "-"
	}
	if t.Src.Port() == 0 && t.Dst.Port() == 0 {
		return fmt.Sprintf("%s %s → %s", t.ProtoName(), t.Src.Addr(), t.Dst.Addr())
	}
	return fmt.Sprintf("%s %s → %s", t.ProtoName(), t.Src, t.Dst)
}

// Event is one observation of one skb at one hook, decoded from the kernel's
// record. It is a plain value: decoding and correlating allocate nothing per
// event.
type Event struct {
	Time    uint64 `json:"ts"`  // monotonic kernel time, ns
	Skb     Ptr    `json:"skb"` // struct sk_buff address
	Hook    Hook   `json:"hook"`
	Flags   uint8  `json:"flags,omitempty"`
	CPU     uint16 `json:"cpu,omitempty"`
	Netns   uint32 `json:"netns,omitempty"`
	Ifindex uint32 `json:"ifindex,omitempty"`
	Len     uint32 `json:"len,omitempty"`
	Mark    uint32 `json:"mark,omitempty"`
	Reason  uint32 `json:"reason,omitempty"`  // drop reason, verdict or return value
	ProgID  uint32 `json:"prog_id,omitempty"` // tail-call target or observed program
	MapID   uint32 `json:"map_id,omitempty"`  // prog_array of a tail call
	Slot    uint32 `json:"slot,omitempty"`    // prog_array slot, or kernel-function hop id
	Tuple   Tuple  `json:"tuple"`
	// CB is the skb's cb[] words a tail-call shim found (HookTailCall).
	CB [5]uint32 `json:"cb,omitzero"`
	// Packet holds the packet's first bytes from its network header, when
	// the tracer captures them (trace.Options.Snaplen); empty otherwise, and
	// for hooks that never read the packet. Only then does decoding
	// allocate. A string, so that events stay comparable; recorded streams
	// do not keep it.
	Packet string `json:"-"`
}
