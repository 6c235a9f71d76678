package trace

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/journey"
)

// EventSize is the size of one ringbuf record.
const EventSize = int(unsafe.Sizeof(bpf.PktlifeEvent{}))

// captureSize is the size of the capture that follows an event when the
// tracer captures packet bytes (Options.Snaplen).
const captureSize = int(unsafe.Sizeof(bpf.PktlifeCapture{}))

// MaxSnaplen is the most packet bytes an event can carry (PL_SNAP_MAX).
const MaxSnaplen = len(bpf.PktlifeCapture{}.Data)

// Decode fills ev from one ringbuf record. It returns false for a record of
// the wrong size. It allocates nothing unless the record carries packet
// bytes (Options.Snaplen), which it copies into ev.Packet.
func Decode(raw []byte, ev *journey.Event) bool {
	if len(raw) < EventSize {
		return false
	}
	k := (*bpf.PktlifeEvent)(unsafe.Pointer(&raw[0]))
	*ev = journey.Event{
		Time:    k.Ts,
		Skb:     journey.Ptr(k.Skb),
		Hook:    journey.Hook(k.Hook),
		Flags:   k.Flags,
		CPU:     k.Cpu,
		Netns:   k.Netns,
		Ifindex: k.Ifindex,
		Len:     k.Len,
		Mark:    k.Mark,
		Reason:  k.Reason,
		ProgID:  k.ProgId,
		MapID:   k.MapId,
		Slot:    k.Slot,
		CB:      k.Cb,
	}
	if len(raw) >= EventSize+captureSize {
		c := (*bpf.PktlifeCapture)(unsafe.Pointer(&raw[EventSize]))
		if n := min(int(c.Len), len(c.Data)); n > 0 {
			ev.Packet = string(c.Data[:n])
		}
	}
	t := &k.Tuple
	if bpf.PktlifePlFlags(k.Flags)&bpf.PktlifePlFlagsPL_F_TUPLE == 0 {
		return true
	}
	var src, dst netip.Addr
	switch t.Family {
	case 4:
		src = netip.AddrFrom4([4]byte(t.Saddr[:4]))
		dst = netip.AddrFrom4([4]byte(t.Daddr[:4]))
	case 6:
		src = netip.AddrFrom16(t.Saddr)
		dst = netip.AddrFrom16(t.Daddr)
	default:
		return true
	}
	ev.Tuple = journey.Tuple{
		Proto:    t.Proto,
		Src:      netip.AddrPortFrom(src, t.Sport),
		Dst:      netip.AddrPortFrom(dst, t.Dport),
		IPID:     t.IpId,
		TCPFlags: t.TcpFlags,
	}
	return true
}

// monotonicNow returns the kernel's monotonic clock, the clock of event
// timestamps (bpf_ktime_get_ns).
func monotonicNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano())
}
