package kube

import (
	"net/netip"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// TimelineSchema is the version of Timeline's JSON form.
const TimelineSchema = 1

// How the halves of a timeline were matched.
const (
	MatchIPID  = "tuple+ip-id" // a shared tuple (through NAT) and the same IPv4 ID
	MatchTuple = "tuple"       // a shared tuple, first unmatched in each stream (no IP ID: IPv6, or 0)
	MatchNone  = ""            // seen on one node only
)

// Half is one node's part of a packet's life.
type Half struct {
	Node    string           `json:"node"`
	Journey *journey.Journey `json:"journey"`
}

// Timeline is one packet seen on one or two nodes. Halves are in the order
// the packet went: the sender's node first. The nodes' kernel clocks are
// unrelated, so hop times within a half are exact and relative to that
// half's first hop, while nothing is claimed about the gap between halves.
type Timeline struct {
	Schema int           `json:"schema"` // TimelineSchema
	Kind   string        `json:"kind"`   // "timeline"
	Match  string        `json:"match,omitempty"`
	IPID   uint16        `json:"ip_id,omitempty"` // the IPv4 ID both halves carried
	Tuple  journey.Tuple `json:"tuple"`           // as first seen by the first half
	Halves []Half        `json:"halves"`
}

func newTimeline(match string, halves ...Half) Timeline {
	return Timeline{Schema: TimelineSchema, Kind: "timeline", Match: match, Tuple: halves[0].Journey.Tuple, Halves: halves}
}

// half is a Half with what matching needs, computed once.
type half struct {
	Half
	flows map[journey.Tuple]flowInfo // every flow the packet carried on this node
	at    time.Time                  // when it arrived, for the live merger's window
}

// flowInfo is what a packet carried with one flow: its IPv4 ID and TCP
// flags, the first non-zero of each. Kept per flow because an encapsulated
// packet's outer header has an ID and flags of its own.
type flowInfo struct {
	ipID  uint16
	flags uint8
}

func newHalf(node string, j *journey.Journey) *half {
	h := &half{Half: Half{Node: node, Journey: j}, flows: make(map[journey.Tuple]flowInfo)}
	add := func(t journey.Tuple) {
		if !t.Valid() {
			return
		}
		f := t.Flow()
		fi := h.flows[f]
		if fi.ipID == 0 {
			fi.ipID = t.IPID
		}
		if fi.flags == 0 {
			fi.flags = t.TCPFlags
		}
		h.flows[f] = fi
	}
	add(j.Tuple)
	for i := range j.Hops {
		add(j.Hops[i].Tuple)
		if j.Hops[i].NATFrom != nil {
			add(*j.Hops[i].NATFrom)
		}
	}
	for _, n := range j.NAT {
		add(n.Old)
		add(n.New)
	}
	return h
}

// matches says whether a and b are the same packet seen on two nodes, how
// that was decided and the IP ID they share. They must share a flow (the
// protocol, addresses and ports of some hop, before or after NAT, with
// direction: a reply never matches its request); on every shared flow where
// both carry an IP ID or TCP flags, those must be equal.
func matches(a, b *half) (string, uint16, bool) {
	if a.Node == b.Node {
		return MatchNone, 0, false
	}
	kind, id := MatchNone, uint16(0)
	for f, fa := range a.flows {
		fb, ok := b.flows[f]
		if !ok {
			continue
		}
		if fa.flags != 0 && fb.flags != 0 && fa.flags != fb.flags {
			return MatchNone, 0, false
		}
		switch {
		case fa.ipID != 0 && fb.ipID != 0 && fa.ipID != fb.ipID:
			return MatchNone, 0, false
		case fa.ipID != 0 && fb.ipID != 0:
			if kind != MatchIPID || fa.ipID < id {
				kind, id = MatchIPID, fa.ipID
			}
		case kind == MatchNone:
			kind = MatchTuple
		}
	}
	return kind, id, kind != MatchNone
}

// Order says which node holds which address, so the sender's half of a
// pair goes first. Addresses of neither node (and no Order at all) fall
// back to: the half that left its node first, then the stream order.
type Order map[netip.Addr]string

// pair orders two matched halves, a being the one first in stream order.
func (o Order) pair(match string, ipID uint16, a, b *half) Timeline {
	if o.sender(b) && !o.sender(a) {
		a, b = b, a
	} else if !o.sender(a) && !o.sender(b) && left(b) && !left(a) {
		a, b = b, a
	}
	t := newTimeline(match, a.Half, b.Half)
	t.IPID = ipID
	return t
}

func (o Order) sender(h *half) bool {
	src := h.Journey.Tuple.Src.Addr()
	return src.IsValid() && o[src] == h.Node
}

func left(h *half) bool { return h.Journey.Fate == journey.FateTransmitted }

// MergeStreams merges two nodes' recorded journey streams, each in its
// node's order, into timelines. Each journey of a is matched with the first
// unmatched journey of b that matches it. Timelines follow a's order; b's
// unmatched journeys are placed before the first pair whose b half came
// after them on b (the two clocks cannot be compared, so that is all the
// order that is known).
func MergeStreams(nodeA string, a []*journey.Journey, nodeB string, b []*journey.Journey, o Order) []Timeline {
	ha := make([]*half, len(a))
	for i, j := range a {
		ha[i] = newHalf(nodeA, j)
	}
	hb := make([]*half, len(b))
	for i, j := range b {
		hb[i] = newHalf(nodeB, j)
	}
	partner := make([]int, len(ha))
	how := make([]string, len(ha))
	ids := make([]uint16, len(ha))
	used := make([]bool, len(hb))
	for i := range ha {
		partner[i] = -1
		for k := range hb {
			if used[k] {
				continue
			}
			if m, id, ok := matches(ha[i], hb[k]); ok {
				partner[i], how[i], ids[i], used[k] = k, m, id, true
				break
			}
		}
	}
	var out []Timeline
	next := 0 // the first journey of b not yet placed
	placeB := func(upto int) {
		for ; next < upto; next++ {
			if !used[next] {
				out = append(out, newTimeline(MatchNone, hb[next].Half))
			}
		}
	}
	for i, h := range ha {
		k := partner[i]
		if k < 0 {
			out = append(out, newTimeline(MatchNone, h.Half))
			continue
		}
		if k >= next {
			placeB(k)
			next = k + 1
		}
		out = append(out, o.pair(how[i], ids[i], h, hb[k]))
	}
	placeB(len(hb))
	return out
}

// Merger matches halves live, as they arrive from the node pods. A half
// waits up to Window for its partner from the other node, then stands
// alone.
type Merger struct {
	Order  Order
	Window time.Duration // default 2 s
	wait   []*half       // in arrival order
}

// Add takes a journey from node and returns the timeline it completes, if
// it matched a waiting half.
func (m *Merger) Add(node string, j *journey.Journey, now time.Time) []Timeline {
	h := newHalf(node, j)
	h.at = now
	for i, w := range m.wait {
		if how, id, ok := matches(w, h); ok {
			m.wait = append(m.wait[:i], m.wait[i+1:]...)
			return []Timeline{m.Order.pair(how, id, w, h)}
		}
	}
	m.wait = append(m.wait, h)
	return nil
}

// Expire returns the halves that waited longer than Window, alone.
func (m *Merger) Expire(now time.Time) []Timeline {
	window := m.Window
	if window <= 0 {
		window = 2 * time.Second
	}
	var out []Timeline
	keep := m.wait[:0]
	for _, w := range m.wait {
		if now.Sub(w.at) >= window {
			out = append(out, newTimeline(MatchNone, w.Half))
		} else {
			keep = append(keep, w)
		}
	}
	m.wait = keep
	return out
}

// Flush returns every waiting half, alone, in arrival order.
func (m *Merger) Flush() []Timeline {
	out := make([]Timeline, 0, len(m.wait))
	for _, w := range m.wait {
		out = append(out, newTimeline(MatchNone, w.Half))
	}
	m.wait = nil
	return out
}
