package filtertest

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"

	"github.com/pktlife/pktlife/filter"
)

var (
	v4 = []string{"10.0.0.1", "10.0.0.2", "10.1.2.3", "192.168.1.5", "172.16.0.9", "10.0.255.254"}
	v6 = []string{"fd00::1", "fd00::2", "fd00:1::5", "2001:db8::7", "fe80::1234", "::ffff:10.0.0.1"}
	// ports around the corpus's values and ranges' ends
	portSet = []uint16{22, 53, 80, 443, 999, 1000, 1500, 2000, 2001, 3000, 65535}
	// protocols, with some in the other family's numbering
	protos = []uint8{6, 17, 132, 1, 58, 47}
	// SYN, SYN|ACK, ACK, PSH|ACK, FIN|ACK, RST, RST|ACK, ECE|CWR|SYN
	tcpFlags = []uint8{0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0xc2}
)

// Packets returns a fixed set of packets: every protocol in both families,
// and seeded random addresses and ports.
func Packets() []filter.Packet {
	r := rand.New(rand.NewPCG(16, 2026))
	var ps []filter.Packet
	for fam := 4; fam <= 6; fam += 2 {
		addrs := v4
		if fam == 6 {
			addrs = v6
		}
		for _, proto := range protos {
			n := 24
			if proto == 6 {
				n = 64 // their flags too
			}
			for range n {
				p := filter.Packet{
					Family: uint8(fam), Proto: proto,
					Src: netip.MustParseAddr(addrs[r.IntN(len(addrs))]),
					Dst: netip.MustParseAddr(addrs[r.IntN(len(addrs))]),
				}
				if proto == 6 || proto == 17 || proto == 132 {
					p.Ports = true
					p.Sport = portSet[r.IntN(len(portSet))]
					p.Dport = portSet[r.IntN(len(portSet))]
				}
				if proto == 6 {
					p.TCPFlags = tcpFlags[r.IntN(len(tcpFlags))]
				}
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// Frame returns p as an Ethernet frame: an IP header without options and
// a transport header (TCP 20 bytes, UDP 8, SCTP 12, others 8) with a few
// bytes of payload.
func Frame(p *filter.Packet) []byte {
	l4 := make([]byte, 8)
	switch p.Proto {
	case 6:
		l4 = make([]byte, 20)
		l4[12] = 5 << 4
		l4[13] = p.TCPFlags
	case 132:
		l4 = make([]byte, 12)
	}
	if p.Ports {
		binary.BigEndian.PutUint16(l4[0:], p.Sport)
		binary.BigEndian.PutUint16(l4[2:], p.Dport)
	}
	if p.Proto == 17 {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)+4))
	}
	l4 = append(l4, 'p', 'k', 't', 'l')
	eth := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00}
	var ip []byte
	if p.Family == 4 {
		ip = make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		ip[8] = 64
		ip[9] = p.Proto
		copy(ip[12:], p.Src.AsSlice())
		copy(ip[16:], p.Dst.AsSlice())
		binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	} else {
		eth[12], eth[13] = 0x86, 0xdd
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6] = p.Proto
		ip[7] = 64
		copy(ip[8:], p.Src.AsSlice())
		copy(ip[24:], p.Dst.AsSlice())
	}
	return append(append(eth, ip...), l4...)
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
