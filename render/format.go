package render

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// fmtDur formats a duration for people: "0", "812ns", "3.1µs", "38.2ms",
// "1.25s"; one decimal below a second is enough to see where time went.
func fmtDur(d time.Duration) string {
	var a [40]byte
	return string(appendDur(a[:0], d))
}

// appendDur appends fmtDur(d) to b.
func appendDur(b []byte, d time.Duration) []byte {
	if d == 0 {
		return append(b, '0')
	}
	if d < 0 {
		return appendSigned(append(b, '-'), -d)
	}
	return appendSigned(b, d)
}

// appendSigned appends d (not negative) to b: nanoseconds, or microseconds
// and milliseconds with one decimal, seconds with two, as
// strconv.AppendFloat(b, float64(d)/unit, 'f', prec, 64) writes them, in
// integers (constant divisors, which the compiler turns into multiplies).
// The quotient of two integers is never near enough to a half to round
// otherwise, except at an exact half, which is left to AppendFloat (it
// rounds the float's value, half to even).
func appendSigned(b []byte, d time.Duration) []byte {
	v := int64(d)
	switch {
	case d < time.Microsecond:
		return append(strconv.AppendInt(b, v, 10), "ns"...)
	case d < time.Millisecond:
		if v%100 == 50 {
			return append(strconv.AppendFloat(b, float64(v)/1e3, 'f', 1, 64), "µs"...)
		}
		return append(appendTenths(b, (v+50)/100), "µs"...)
	case d < time.Second:
		if v%100_000 == 50_000 {
			return append(strconv.AppendFloat(b, float64(v)/1e6, 'f', 1, 64), "ms"...)
		}
		return append(appendTenths(b, (v+50_000)/100_000), "ms"...)
	case d < time.Minute:
		if v%10_000_000 == 5_000_000 {
			return append(strconv.AppendFloat(b, float64(v)/1e9, 'f', 2, 64), "s"...)
		}
		return append(appendHundredths(b, (v+5_000_000)/10_000_000), "s"...)
	}
	return append(b, d.Round(100*time.Millisecond).String()...)
}

// appendTenths appends q tenths as "3.1".
func appendTenths(b []byte, q int64) []byte {
	b = strconv.AppendInt(b, q/10, 10)
	return append(b, '.', byte('0'+q%10))
}

// appendHundredths appends q hundredths as "3.14".
func appendHundredths(b []byte, q int64) []byte {
	b = strconv.AppendInt(b, q/100, 10)
	return append(b, '.', byte('0'+q/10%10), byte('0'+q%10))
}

// fmtDelta formats a time difference with its sign: "+3.1µs".
func fmtDelta(d time.Duration) string {
	var a [40]byte
	return string(appendDelta(a[:0], d))
}

// appendDelta appends fmtDelta(d) to b.
func appendDelta(b []byte, d time.Duration) []byte {
	if d < 0 {
		return appendDur(b, d)
	}
	if d == 0 {
		return append(b, "+0"...)
	}
	return appendSigned(append(b, '+'), d)
}

// netnsLabel names a namespace: its name, else its inode, else "-".
func netnsLabel(d journey.Device) string {
	switch {
	case d.NetnsName != "":
		return sanitize(d.NetnsName)
	case d.Netns != 0:
		return strconv.FormatUint(uint64(d.Netns), 10)
	}
	return "-"
}

// deviceLabel names a device in at most w cells: "veth-a (if 4)" when it
// fits, else the name alone, else the name cut in the middle.
func deviceLabel(d journey.Device, w int) string {
	name := sanitize(d.Name)
	idx := "if " + strconv.FormatUint(uint64(d.Ifindex), 10)
	if d.Ifindex == 0 && name == "" {
		return "-"
	}
	if name == "" {
		return cutMiddle(idx, w)
	}
	if d.Ifindex == 0 {
		return cutMiddle(name, w)
	}
	if full := name + " (" + idx + ")"; textWidth(full) <= w {
		return full
	}
	return cutMiddle(name, w)
}

// hookLabel is what the hook column says: the hook's name, or the kernel
// function for kernel-function hops.
func hookLabel(h *journey.Hop) (string, sty) {
	switch h.Hook {
	case journey.HookKfunc:
		if h.Kfunc() != "" {
			return sanitize(h.Kfunc()) + "()", sKfunc
		}
		return h.Hook.String(), sKfunc
	case journey.HookKfuncRet:
		if h.Kfunc() != "" {
			return sanitize(h.Kfunc()) + "() exit", sKfunc
		}
		return h.Hook.String(), sKfunc
	case journey.HookTCIngress, journey.HookTCEgress:
		return h.Hook.String(), sTC
	case journey.HookKfreeSkb:
		if h.DropReason != "" {
			return h.Hook.String(), sBad
		}
	case journey.HookConsumeSkb:
		return h.Hook.String(), sDim
	case journey.HookSockDeliver:
		return h.Hook.String(), sGood
	}
	return h.Hook.String(), sPlain
}

// reasonName shortens a kernel drop reason for the terminal; JSON keeps the
// name as the model has it.
func reasonName(r string) string {
	return sanitize(strings.TrimPrefix(r, "SKB_DROP_REASON_"))
}

// verdictStyle colours a TC_ACT_* verdict by what it does to the packet.
func verdictStyle(v string) sty {
	switch v {
	case "TC_ACT_OK", "TC_ACT_UNSPEC":
		return sGood
	case "TC_ACT_SHOT", "TC_ACT_STOLEN", "TC_ACT_TRAP":
		return sBad
	case "TC_ACT_REDIRECT":
		return sInfo
	}
	return sWarn
}

// progLabel names a program: "demo_nat (id 80)", or "id 80".
func progLabel(p journey.Prog) string {
	id := "id " + strconv.FormatUint(uint64(p.ID), 10)
	if p.Name == "" {
		return id
	}
	return sanitize(p.Name) + " (" + id + ")"
}

// tailCallTarget is "[map/slot]" for a tail call.
func tailCallTarget(tc journey.TailCall) string {
	m := sanitize(tc.Map)
	if m == "" {
		m = "map " + strconv.FormatUint(uint64(tc.MapID), 10)
	}
	return "[" + m + "/" + strconv.FormatUint(uint64(tc.Slot), 10) + "]"
}

// endpoint splits an address and port for display, so that a NAT can
// highlight the part it changed: ("10.0.0.1", ":80"), ("[2001:db8::1]",
// ":443"), or ("10.0.0.1", "") when the tuple has no ports.
func endpoint(ap netip.AddrPort, ports bool) (addr, port string) {
	if !ports {
		return ap.Addr().String(), ""
	}
	if !ap.Addr().IsValid() { // AppendTo writes nothing for it, String a text
		return ap.Addr().String(), ":" + strconv.FormatUint(uint64(ap.Port()), 10)
	}
	// Both parts are cut from one string.
	var a [64]byte
	b := a[:0]
	is6 := ap.Addr().Is6()
	if is6 {
		b = append(b, '[')
	}
	b = ap.Addr().AppendTo(b)
	if is6 {
		b = append(b, ']')
	}
	k := len(b)
	b = strconv.AppendUint(append(b, ':'), uint64(ap.Port()), 10)
	s := string(b)
	return s[:k], s[k:]
}

func hasPorts(t journey.Tuple) bool { return t.Src.Port() != 0 || t.Dst.Port() != 0 }

// addEndpoint appends ap, styling its address and port with st.
func (l *line) addEndpoint(ap netip.AddrPort, ports bool, st sty) {
	if ports && ap.Addr().IsValid() && ap.Addr().Zone() == "" {
		// One span "addr:port" (AddrPort.String writes what endpoint
		// splits): the same cells and colours as two spans in one style,
		// with one string to make instead of three. Zones are left to the
		// general path: they may hold anything.
		l.add(ap.String(), st)
		return
	}
	a, p := endpoint(ap, ports)
	l.add(a, st)
	l.add(p, st)
}

// addChanged appends the new endpoint of a NAT, highlighting only the parts
// (address, port) that differ from the old one.
func (l *line) addChanged(old, cur netip.AddrPort, ports bool) {
	oa, op := endpoint(old, ports)
	na, np := endpoint(cur, ports)
	l.add(na, pick(oa != na, sNATNew, sPlain))
	l.add(np, pick(op != np, sNATNew, sPlain))
}

func pick(c bool, a, b sty) sty {
	if c {
		return a
	}
	return b
}

// addTuple appends "udp 10.0.0.1:5000 → 10.0.0.2:53".
func (l *line) addTuple(t journey.Tuple, last *journey.Tuple) {
	l.addTupleSrc(t, last)
	l.add(" ", sPlain)
	l.addTupleDst(t, last)
}

// tupleParts formats a tuple in two pieces that may be wrapped apart:
// "udp 10.0.0.1:5000" and "→ 10.0.0.2:53". When last differs from t by
// NAT, the rewritten side reads "old ⇒ new" with the new parts
// highlighted: the whole story of the packet's addresses in one line.
func tupleParts(t journey.Tuple, last *journey.Tuple) (src, dst line) {
	src.addTupleSrc(t, last)
	dst.addTupleDst(t, last)
	return src, dst
}

// addTupleSrc appends tupleParts' first piece: "udp 10.0.0.1:5000".
func (l *line) addTupleSrc(t journey.Tuple, last *journey.Tuple) {
	if !t.Valid() {
		l.add("(no IP tuple)", sDim)
		return
	}
	l.add(protoLabel(t.Proto), sBold)
	var cur *netip.AddrPort
	if last != nil && last.Valid() && last.Proto == t.Proto {
		cur = &last.Src
	}
	l.addSide(t.Src, cur, hasPorts(t))
}

// addTupleDst appends tupleParts' second piece: "→ 10.0.0.2:53", nothing
// for a tuple without addresses.
func (l *line) addTupleDst(t journey.Tuple, last *journey.Tuple) {
	if !t.Valid() {
		return
	}
	l.add("→ ", sPlain)
	var cur *netip.AddrPort
	if last != nil && last.Valid() && last.Proto == t.Proto {
		cur = &last.Dst
	}
	l.addSide(t.Dst, cur, hasPorts(t))
}

// addSide appends one side of a tuple, "old ⇒ new" when cur differs.
func (l *line) addSide(old netip.AddrPort, cur *netip.AddrPort, ports bool) {
	if cur == nil || *cur == old {
		l.addEndpoint(old, ports, sBold)
		return
	}
	l.addEndpoint(old, ports, sPlain)
	l.add(" ⇒ ", sNATKind)
	l.addChanged(old, *cur, ports)
}

// protoLabel is the protocol's name and a space, without building a string
// for the common ones.
func protoLabel(p uint8) string {
	switch p {
	case 1:
		return "icmp "
	case 6:
		return "tcp "
	case 17:
		return "udp "
	case 58:
		return "icmpv6 "
	case 132:
		return "sctp "
	}
	return journey.ProtoName(p) + " "
}

// tcpFlagNames are the TCP header flags, lowest bit first.
var tcpFlagNames = [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// tcpFlags formats TCP flags as "[SYN,ACK]", or "" when none are set.
func tcpFlags(f uint8) string {
	if f == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, n := range tcpFlagNames {
		if f&(1<<i) == 0 {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(n)
	}
	b.WriteByte(']')
	return b.String()
}

// natKind says which sides a NAT rewrote.
func natKind(old, cur journey.Tuple) string { return journey.NATKind(old, cur) }

// natLine describes one NAT: "dnat  dst 10.96.0.10:80 ⇒ 10.244.2.2:8080".
// Without colour the "old ⇒ new" form marks exactly what changed.
func natLine(kind string, old, cur journey.Tuple) line {
	return appendNATLine(nil, kind, old, cur)
}

// appendNATLine appends natLine's spans to l.
func appendNATLine(l line, kind string, old, cur journey.Tuple) line {
	ports := hasPorts(old) || hasPorts(cur)
	l.add(kind, sNATKind)
	if !old.Valid() || !cur.Valid() {
		l.add("  "+fmt.Sprint(old)+" ⇒ "+fmt.Sprint(cur), sPlain)
		return l
	}
	side := func(label string, o, n netip.AddrPort) {
		if o == n {
			return
		}
		l.add(label, sDim)
		l.addEndpoint(o, ports, sNATOld)
		l.add(" ⇒ ", sNATKind)
		l.addChanged(o, n, ports)
	}
	side("  src ", old.Src, cur.Src)
	side("  dst ", old.Dst, cur.Dst)
	if old.Proto != cur.Proto {
		l.add("  proto "+old.ProtoName()+" ⇒ "+cur.ProtoName(), sNATNew)
	}
	return l
}
