package trace_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/demo"
)

// sniffer reads every frame a device receives, through an
// AF_PACKET socket with a TPACKET_V2 receive ring opened inside the
// device's namespace. A ring copies frames without cloning the skb: a plain
// packet socket's clones, freed when read, would be extra consume_skb
// events at reused skb addresses in the traced stream.
type sniffer struct {
	fd    int
	ring  []byte
	next_ int // frame to read next
}

const (
	ringFrame  = 2048
	ringBlock  = 16 << 10
	ringBlocks = 16
	ringFrames = ringBlock / ringFrame * ringBlocks
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func sniff(t *testing.T, nsPath, ifname string) *sniffer {
	t.Helper()
	s := &sniffer{fd: -1}
	err := demo.DoInNetns(nsPath, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		if s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL))); err != nil {
			return err
		}
		// Outgoing frames reach packet sockets as clones whatever the
		// socket: take incoming ones only.
		if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
			return err
		}
		req := unix.TpacketReq{Block_size: ringBlock, Block_nr: ringBlocks, Frame_size: ringFrame, Frame_nr: ringFrames}
		if err := unix.SetsockoptTpacketReq(s.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
			return err
		}
		if s.ring, err = unix.Mmap(s.fd, 0, ringBlock*ringBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
			return err
		}
		return unix.Bind(s.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	t.Cleanup(func() {
		if s.ring != nil {
			unix.Munmap(s.ring)
		}
		if s.fd >= 0 {
			unix.Close(s.fd)
		}
	})
	if err != nil {
		t.Fatalf("open packet ring on %s: %v", ifname, err)
	}
	return s
}

// frame waits for the next frame in the ring, until deadline.
func (s *sniffer) frame(deadline time.Time) ([]byte, error) {
	off := s.next_ * ringFrame
	status := (*uint32)(unsafe.Pointer(&s.ring[off]))
	for atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			return nil, os.ErrDeadlineExceeded
		}
		if _, err := unix.Poll([]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}, ms); err != nil && !errors.Is(err, unix.EINTR) {
			return nil, err
		}
	}
	hdr := (*unix.Tpacket2Hdr)(unsafe.Pointer(&s.ring[off]))
	b := slices.Clone(s.ring[off+int(hdr.Mac) : off+int(hdr.Mac)+int(hdr.Snaplen)])
	atomic.StoreUint32(status, 0) // TP_STATUS_KERNEL: the slot is free again
	s.next_ = (s.next_ + 1) % ringFrames
	return b, nil
}

// udpFrame is a captured IPv4 UDP frame's ports and bytes.
type udpFrame struct {
	src, dst netip.AddrPort
	raw      []byte
}

// parseUDP reads an Ethernet + IPv4 + UDP frame.
func parseUDP(b []byte) (udpFrame, bool) {
	if len(b) < 14+20+8 || binary.BigEndian.Uint16(b[12:]) != 0x0800 || b[14]>>4 != 4 || b[14+9] != unix.IPPROTO_UDP {
		return udpFrame{}, false
	}
	ihl := int(b[14]&0xf) * 4
	if len(b) < 14+ihl+8 {
		return udpFrame{}, false
	}
	ip, l4 := b[14:], b[14+ihl:]
	return udpFrame{
		src: netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(l4)),
		dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(l4[2:])),
		raw: slices.Clone(b),
	}, true
}

// masked is the frame with what legitimately differs between two sends of
// the same datagram zeroed: the IPv4 identification and header checksum.
func (f udpFrame) masked() []byte {
	b := slices.Clone(f.raw)
	b[14+4], b[14+5] = 0, 0
	b[14+10], b[14+11] = 0, 0
	return b
}

// next returns the next UDP frame from src to dst, within 5 s.
func (s *sniffer) next(t *testing.T, src, dst netip.AddrPort) udpFrame {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := s.frame(deadline)
		if err != nil {
			t.Fatalf("no UDP frame %s → %s captured: %v", src, dst, err)
		}
		if f, ok := parseUDP(b); ok && f.src == src && f.dst == dst {
			return f
		}
	}
}

// udpFrom sends payload from a fixed local address to dst inside a
// namespace; with wantReply it returns the first reply.
func udpFrom(t *testing.T, nsPath string, local, dst netip.AddrPort, payload []byte, wantReply bool) []byte {
	t.Helper()
	var conn *net.UDPConn
	err := demo.DoInNetns(nsPath, func() error {
		var err error
		conn, err = net.DialUDP("udp4", net.UDPAddrFromAddrPort(local), net.UDPAddrFromAddrPort(dst))
		return err
	})
	if err != nil {
		t.Fatalf("dial udp %s → %s: %v", local, dst, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(payload); err != nil {
		t.Fatalf("send udp %s → %s: %v", local, dst, err)
	}
	if !wantReply {
		return nil
	}
	buf := make([]byte, 65536)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read udp reply %s → %s: %v", dst, local, err)
	}
	return buf[:n]
}

// eventually polls cond (BPF maps give no signal when they change) until
// it holds, for at most 5 s.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, errors.New("timed out"))
		case <-tick.C:
		}
	}
}

func mustEqualBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s differ:\n got  %x\n want %x", what, got, want)
	}
}
