package render

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pktlife/pktlife/render/pcapng"
	"github.com/pktlife/pktlife/trace/journey"
)

// Pcap writes journeys as pcapng: one packet block per hop, on one
// interface per device and namespace, with the packet's bytes from its
// network header (link type RAW) and a comment that says where the packet
// was and what happened to it there: journey, hop, hook, device,
// namespace, verdict, programs and tail-call chain, NAT, drop reason.
//
// Hops that do not read the packet (net_dev_xmit, which may see it after
// it was freed; a tail-call shim) carry no bytes of their own: such a hop
// gets the bytes of the nearest hop of its journey that has some, and its
// comment says which ("bytes from hop 5"). A journey without any bytes (the
// tracer did not capture, or a replay) gives packets of length 0 whose
// original length is the hop's skb length; the comment says so.
type Pcap struct {
	w      *pcapng.Writer
	snap   int
	ifaces map[ifKey]uint32
	closed bool
}

type ifKey struct {
	netns, ifindex uint32
	node           string
}

var _ Renderer = (*Pcap)(nil)

// NewPcap writes a pcapng section header to w and returns a renderer that
// writes each journey's hops to it. snaplen is the interfaces' snap length
// (the most bytes a packet carries).
func NewPcap(w io.Writer, snaplen int) (*Pcap, error) {
	pw, err := pcapng.NewWriter(w, "pktlife")
	if err != nil {
		return nil, err
	}
	return &Pcap{w: pw, snap: snaplen, ifaces: map[ifKey]uint32{}}, nil
}

// Journey writes one packet block per hop of j.
func (p *Pcap) Journey(j *journey.Journey) error {
	if p.closed {
		return fmt.Errorf("write pcap: %w", ErrClosed)
	}
	for i := range j.Hops {
		h := &j.Hops[i]
		id, err := p.iface(h)
		if err != nil {
			return err
		}
		data, from := hopBytes(j, i)
		length := ipLength(data)
		if length == 0 {
			length = int(h.Len)
		}
		if len(data) > length {
			data = data[:length]
		}
		pkt := pcapng.Packet{
			Interface: id,
			Time:      hopTime(j, h),
			Data:      data,
			Length:    length,
			Comment:   hopComment(j, h, from),
		}
		if err := p.w.Packet(pkt); err != nil {
			return fmt.Errorf("write journey %d hop %d: %w", j.ID, h.Index, err)
		}
	}
	return nil
}

// Close ends the output; it does not close the underlying writer.
func (p *Pcap) Close() error {
	p.closed = true
	return p.w.Close()
}

// iface returns the interface of h's device, writing its description block
// the first time.
func (p *Pcap) iface(h *journey.Hop) (uint32, error) {
	k := ifKey{h.Device.Netns, h.Device.Ifindex, h.Node()}
	if id, ok := p.ifaces[k]; ok {
		return id, nil
	}
	dev := sanitize(h.Device.Name)
	if dev == "" {
		dev = "nodev" // a hop before the packet has a device (a socket's send)
		if h.Device.Ifindex != 0 {
			dev = "if" + strconv.FormatUint(uint64(h.Device.Ifindex), 10)
		}
	}
	ns := netnsLabel(h.Device)
	name := dev + "@" + ns
	desc := fmt.Sprintf("device %s (ifindex %d) in network namespace %s (inode %d)",
		dev, h.Device.Ifindex, ns, h.Device.Netns)
	if h.Node() != "" {
		name = sanitize(h.Node()) + ":" + name
		desc += " on node " + sanitize(h.Node())
	}
	id, err := p.w.Interface(pcapng.Interface{LinkType: pcapng.LinkTypeRaw, SnapLen: uint32(p.snap), Name: name, Description: desc})
	if err != nil {
		return 0, err
	}
	p.ifaces[k] = id
	return id, nil
}

// hopBytes returns the bytes to write for hop i: its own, else those of
// the nearest hop with bytes (an earlier one on a tie) and that hop's
// index, else nil.
func hopBytes(j *journey.Journey, i int) ([]byte, int) {
	if len(j.Hops[i].Packet()) > 0 {
		return j.Hops[i].Packet(), j.Hops[i].Index
	}
	for d := 1; d < len(j.Hops); d++ {
		for _, k := range [2]int{i - d, i + d} {
			if k >= 0 && k < len(j.Hops) && len(j.Hops[k].Packet()) > 0 {
				return j.Hops[k].Packet(), j.Hops[k].Index
			}
		}
	}
	return nil, 0
}

// ipLength is the packet's length from its IPv4 or IPv6 header, or 0.
func ipLength(b []byte) int {
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		return int(binary.BigEndian.Uint16(b[2:]))
	case len(b) >= 40 && b[0]>>4 == 6:
		return 40 + int(binary.BigEndian.Uint16(b[4:]))
	}
	return 0
}

// writeProgsComment writes a hop's programs and tail-call chain.
func writeProgsComment(c *strings.Builder, h *journey.Hop) {
	if len(h.Progs) > 0 {
		c.WriteString("; progs ")
		for i, pr := range h.Progs {
			if i > 0 {
				c.WriteString(", ")
			}
			c.WriteString(progLabel(pr))
		}
	}
	if len(h.TailCalls) > 0 {
		c.WriteString("; chain ")
		for i, tc := range h.TailCalls {
			if i > 0 {
				c.WriteString(" → ")
			}
			c.WriteString(tailCallText(tc))
		}
	}
}

// hopComment says in one line where hop h of j was and what happened there.
// from is the hop whose bytes the packet block carries (0: none).
func hopComment(j *journey.Journey, h *journey.Hop, from int) string {
	var c strings.Builder
	fmt.Fprintf(&c, "pktlife journey %d hop %d/%d: %s", j.ID, h.Index, len(j.Hops), plainHook(h))
	fmt.Fprintf(&c, "; dev %s; netns %s", deviceLabel(h.Device, 64), netnsLabel(h.Device))
	if h.Node() != "" {
		c.WriteString("; node " + sanitize(h.Node()))
	}
	fmt.Fprintf(&c, "; +%s", fmtDur(h.At))
	if h.Tuple.Valid() {
		c.WriteString("; " + sanitize(h.Tuple.String()))
	}
	if h.Verdict != "" {
		c.WriteString("; verdict " + sanitize(h.Verdict))
		if h.VerdictInferred {
			c.WriteString(" (inferred)")
		}
	}
	if h.DropReason != "" {
		c.WriteString("; drop " + reasonName(h.DropReason))
	}
	writeProgsComment(&c, h)
	for _, n := range natTexts(j, h) {
		c.WriteString("; " + n)
	}
	switch {
	case from == 0 && len(h.Packet()) == 0:
		c.WriteString("; no packet bytes captured")
	case from != h.Index:
		fmt.Fprintf(&c, "; this hook does not read the packet: bytes from hop %d", from)
	}
	return c.String()
}

// tailCallText is "[map/slot] prog (id N)", marked when missed or inferred.
func tailCallText(tc journey.TailCall) string {
	s := tailCallTarget(tc) + " " + progLabel(tc.Prog)
	if tc.Missed {
		s += " (missed)"
	}
	if tc.Inferred {
		s += " (inferred)"
	}
	return s
}

// plainHook is the hook's name, or the kernel function's.
func plainHook(h *journey.Hop) string {
	s, _ := hookLabel(h)
	return s
}

// plainLine is a line's text without styles.
func plainLine(l line) string {
	var b strings.Builder
	for _, s := range l {
		b.WriteString(s.text)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// hopTime is the wall-clock time of a hop.
func hopTime(j *journey.Journey, h *journey.Hop) time.Time { return j.StartWall.Add(h.At) }
