package demo

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// Ping sends one ICMP echo request to dst from inside the namespace at
// netnsPath and waits for the matching reply. The demo datapath hands ICMP
// back to the stack, so pings take the routed path through the node, not
// the redirect.
func Ping(ctx context.Context, netnsPath string, dst netip.Addr) (time.Duration, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	var conn net.PacketConn
	err := DoInNetns(netnsPath, func() error {
		var err error
		conn, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("open icmp socket: %w", err)
	}
	defer conn.Close()
	stop := closeOn(ctx.Done(), conn)
	defer stop()

	id := uint16(os.Getpid())
	seq := uint16(time.Now().UnixNano())
	req := echoRequest(id, seq, []byte("pktlife"))
	start := time.Now()
	if _, err := conn.WriteTo(req, &net.IPAddr{IP: net.IP(dst.AsSlice())}); err != nil {
		return 0, fmt.Errorf("send echo request to %s: %w", dst, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return 0, fmt.Errorf("read echo reply from %s: %w", dst, ctxErr(ctx, err))
		}
		// A raw ICMP socket sees every ICMP packet: keep the reply to ours.
		b := buf[:n]
		if len(b) >= 8 && b[0] == 0 && b[1] == 0 &&
			binary.BigEndian.Uint16(b[4:]) == id && binary.BigEndian.Uint16(b[6:]) == seq &&
			from.(*net.IPAddr).IP.Equal(net.IP(dst.AsSlice())) {
			return time.Since(start), nil
		}
	}
}

// echoRequest builds an ICMP echo request message.
func echoRequest(id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	b[0] = 8 // echo request, code 0
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], payload)
	binary.BigEndian.PutUint16(b[2:], inetChecksum(b))
	return b
}

// inetChecksum is the Internet checksum (RFC 1071).
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
