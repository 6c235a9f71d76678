package trace_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/demo"
)

// sniffer reads every frame a device sends or receives, through an
// AF_PACKET socket opened inside the device's namespace.
type sniffer struct {
	f *os.File
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func sniff(t *testing.T, nsPath, ifname string) *sniffer {
	t.Helper()
	var fd int
	err := demo.DoInNetns(nsPath, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatalf("open packet socket on %s: %v", ifname, err)
	}
	s := &sniffer{f: os.NewFile(uintptr(fd), "packet:"+ifname)}
	t.Cleanup(func() { s.f.Close() })
	return s
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
	if err := s.f.SetReadDeadline(deadline); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	buf := make([]byte, 65536)
	for {
		n, err := s.f.Read(buf)
		if err != nil {
			t.Fatalf("no UDP frame %s → %s captured on %s: %v", src, dst, s.f.Name(), err)
		}
		if f, ok := parseUDP(buf[:n]); ok && f.src == src && f.dst == dst {
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
