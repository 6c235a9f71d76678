package render

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/pktlife/pktlife/trace/journey"
)

// jsonEnc writes a journey as JSON by appending to a buffer, without
// reflection: the same bytes json.Marshal writes for journey.Journey (field
// order, omitempty, text marshalers, string escaping with HTML characters
// escaped), several times faster. TestJSONEncoderMatchesMarshal holds it to
// that over the golden fixtures and thousands of random journeys. It
// reports false for what it does not write the way json.Marshal would (a
// time that is not valid RFC 3339), and the caller falls back to
// json.Marshal.
type jsonEnc struct {
	b       []byte
	scratch []byte
}

// journey appends j. It returns false, with b unspecified, when j needs
// json.Marshal.
func (e *jsonEnc) journey(j *journey.Journey) bool {
	b := e.b
	b = append(b, `{"schema":`...)
	b = strconv.AppendInt(b, int64(j.Schema), 10)
	b = append(b, `,"id":`...)
	b = strconv.AppendUint(b, j.ID, 10)
	if j.Node != "" {
		b = append(b, `,"node":`...)
		b = appendJSONString(b, j.Node)
	}
	b = append(b, `,"skb":`...)
	b = appendPtr(b, j.Skb)
	if len(j.Clones) > 0 {
		b = append(b, `,"clones":[`...)
		for i, c := range j.Clones {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPtr(b, c)
		}
		b = append(b, ']')
	}
	b = append(b, `,"start_ts":`...)
	b = strconv.AppendUint(b, j.Start, 10)
	b = append(b, `,"start_time":`...)
	var ok bool
	if b, ok = appendTime(b, j.StartWall); !ok {
		return false
	}
	b = append(b, `,"duration_ns":`...)
	b = strconv.AppendInt(b, int64(j.Duration), 10)
	b = append(b, `,"tuple":`...)
	b = e.tuple(b, &j.Tuple)
	b = append(b, `,"hops":`...)
	if j.Hops == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range j.Hops {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.hop(b, &j.Hops[i])
		}
		b = append(b, ']')
	}
	if len(j.NAT) > 0 {
		b = e.nats(b, j.NAT)
	}
	b = append(b, `,"fate":`...)
	b = appendJSONString(b, string(j.Fate))
	if j.DropReason != "" {
		b = append(b, `,"drop_reason":`...)
		b = appendJSONString(b, j.DropReason)
	}
	b = append(b, `,"end":`...)
	b = appendJSONString(b, string(j.End))
	e.b = append(b, '}')
	return true
}

func (e *jsonEnc) hop(b []byte, h *journey.Hop) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(h.Index), 10)
	if n := h.Node(); n != "" {
		b = append(b, `,"node":`...)
		b = appendJSONString(b, n)
	}
	b = append(b, `,"at_ns":`...)
	b = strconv.AppendInt(b, int64(h.At), 10)
	b = append(b, `,"delta_ns":`...)
	b = strconv.AppendInt(b, int64(h.Delta), 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendUint(b, h.Time, 10)
	b = append(b, `,"hook":`...)
	b = appendJSONString(b, h.Hook.String())
	if h.Kfunc() != "" {
		b = append(b, `,"kfunc":`...)
		b = appendJSONString(b, h.Kfunc())
	}
	b = append(b, `,"device":{`...)
	b = appendDevice(b, &h.Device)
	b = append(b, `},"skb":`...)
	b = appendPtr(b, h.Skb)
	b = append(b, `,"cpu":`...)
	b = strconv.AppendUint(b, uint64(h.CPU), 10)
	b = append(b, `,"len":`...)
	b = strconv.AppendUint(b, uint64(h.Len), 10)
	if h.Mark != 0 {
		b = append(b, `,"mark":`...)
		b = strconv.AppendUint(b, uint64(h.Mark), 10)
	}
	b = append(b, `,"tuple":`...)
	b = e.tuple(b, &h.Tuple)
	if h.NATFrom != nil {
		b = append(b, `,"nat_from":`...)
		b = e.tuple(b, h.NATFrom)
	}
	if len(h.Progs) > 0 {
		b = append(b, `,"progs":[`...)
		for i, p := range h.Progs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendProg(b, p)
		}
		b = append(b, ']')
	}
	if len(h.TailCalls) > 0 {
		b = appendTailCalls(b, h.TailCalls)
	}
	b = appendOutcome(b, h)
	return append(b, '}')
}

// nats appends the journey's NAT list, after a comma.
func (e *jsonEnc) nats(b []byte, nats []journey.NAT) []byte {
	b = append(b, `,"nat":[`...)
	for i := range nats {
		n := &nats[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"hop":`...)
		b = strconv.AppendInt(b, int64(n.Hop), 10)
		b = append(b, `,"old":`...)
		b = e.tuple(b, &n.Old)
		b = append(b, `,"new":`...)
		b = e.tuple(b, &n.New)
		b = append(b, `,"kind":`...)
		b = appendJSONString(b, n.Kind)
		if n.ByHop != 0 {
			b = append(b, `,"by_hop":`...)
			b = strconv.AppendInt(b, int64(n.ByHop), 10)
		}
		if n.Prog != "" {
			b = append(b, `,"prog":`...)
			b = appendJSONString(b, n.Prog)
		}
		if n.Inferred {
			b = append(b, `,"inferred":true`...)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	return b
}

// appendDevice appends a device's fields, without its braces.
func appendDevice(b []byte, d *journey.Device) []byte {
	if d.Name != "" {
		b = append(b, `"name":`...)
		b = appendJSONString(b, d.Name)
		b = append(b, ',')
	}
	b = append(b, `"ifindex":`...)
	b = strconv.AppendUint(b, uint64(d.Ifindex), 10)
	b = append(b, `,"netns":`...)
	b = strconv.AppendUint(b, uint64(d.Netns), 10)
	if d.NetnsName != "" {
		b = append(b, `,"netns_name":`...)
		b = appendJSONString(b, d.NetnsName)
	}
	return b
}

// appendTailCalls appends a hop's tail calls, after a comma.
func appendTailCalls(b []byte, tcs []journey.TailCall) []byte {
	b = append(b, `,"tail_calls":[`...)
	for i := range tcs {
		tc := &tcs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"at_ns":`...)
		b = strconv.AppendInt(b, int64(tc.At), 10)
		if tc.Map != "" {
			b = append(b, `,"map":`...)
			b = appendJSONString(b, tc.Map)
		}
		b = append(b, `,"map_id":`...)
		b = strconv.AppendUint(b, uint64(tc.MapID), 10)
		b = append(b, `,"slot":`...)
		b = strconv.AppendUint(b, uint64(tc.Slot), 10)
		b = append(b, `,"prog":`...)
		b = appendProg(b, tc.Prog)
		if tc.Missed {
			b = append(b, `,"missed":true`...)
		}
		if tc.Inferred {
			b = append(b, `,"inferred":true`...)
		}
		if tc.CB != ([5]uint32{}) {
			b = append(b, `,"cb":[`...)
			for k, w := range tc.CB {
				if k > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, uint64(w), 10)
			}
			b = append(b, ']')
		}
		if tc.Reason != "" {
			b = append(b, `,"reason":`...)
			b = appendJSONString(b, tc.Reason)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	return b
}

// appendOutcome appends what happened at a hop: verdict, drop reason,
// return value.
func appendOutcome(b []byte, h *journey.Hop) []byte {
	if h.Verdict != "" {
		b = append(b, `,"verdict":`...)
		b = appendJSONString(b, h.Verdict)
	}
	if h.VerdictInferred {
		b = append(b, `,"verdict_inferred":true`...)
	}
	if h.VerdictFrom() != "" {
		b = append(b, `,"verdict_from":`...)
		b = appendJSONString(b, h.VerdictFrom())
	}
	if h.DropReason != "" {
		b = append(b, `,"drop_reason":`...)
		b = appendJSONString(b, h.DropReason)
	}
	if h.Ret != nil {
		b = append(b, `,"ret":`...)
		b = strconv.AppendInt(b, *h.Ret, 10)
	}
	return b
}

func (e *jsonEnc) tuple(b []byte, t *journey.Tuple) []byte {
	b = append(b, `{"proto":`...)
	b = strconv.AppendUint(b, uint64(t.Proto), 10)
	b = append(b, `,"src":`...)
	b = e.addrPort(b, t.Src)
	b = append(b, `,"dst":`...)
	b = e.addrPort(b, t.Dst)
	if t.IPID != 0 {
		b = append(b, `,"ip_id":`...)
		b = strconv.AppendUint(b, uint64(t.IPID), 10)
	}
	if t.TCPFlags != 0 {
		b = append(b, `,"tcp_flags":`...)
		b = strconv.AppendUint(b, uint64(t.TCPFlags), 10)
	}
	return append(b, '}')
}

// addrPort writes the address as its text form, a JSON string ("" when
// invalid); a zone is escaped like any string.
func (e *jsonEnc) addrPort(b []byte, ap netip.AddrPort) []byte {
	if !ap.Addr().IsValid() {
		return append(b, `""`...)
	}
	e.scratch, _ = ap.AppendText(e.scratch[:0]) // AddrPort.AppendText never fails
	return appendJSONString(b, e.scratch)
}

func appendProg(b []byte, p journey.Prog) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, uint64(p.ID), 10)
	if p.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, p.Name)
	}
	return append(b, '}')
}

// appendPtr writes an address the way Ptr.MarshalText does, as a string.
func appendPtr(b []byte, p journey.Ptr) []byte {
	b = append(b, `"0x`...)
	b = strconv.AppendUint(b, uint64(p), 16)
	return append(b, '"')
}

// appendTime writes t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds), or reports false for the times MarshalJSON refuses: a year
// outside 0–9999 or a zone offset of a day or more.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	n := len(b)
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	s := b[n+1:]
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' {
		return b, false
	}
	if s[len(s)-1] != 'Z' {
		// ±hh:mm
		z := s[len(s)-6:]
		if (z[0] != '+' && z[0] != '-') || (z[1]-'0')*10+(z[2]-'0') >= 24 {
			return b, false
		}
	}
	return append(b, '"'), true
}

const hexDigits = "0123456789abcdef"

// jsonSafe reports whether an ASCII byte is written as it is.
func jsonSafe(c byte) bool {
	return c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// appendEscaped appends the escape of an ASCII byte that is not jsonSafe.
func appendEscaped(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendJSONString writes s as a JSON string escaped as encoding/json
// escapes it: quote, backslash and control characters; <, > and & (HTML);
// U+2028 and U+2029; and each byte that is not UTF-8 as U+FFFD.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	done := 0 // s[:done] is written
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe(c) {
				i++
				continue
			}
			b = appendEscaped(append(b, s[done:i]...), c)
			i++
			done = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[done:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[done:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		done = i
	}
	b = append(b, s[done:]...)
	return append(b, '"')
}
