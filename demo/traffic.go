package demo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// DefaultTimeout bounds every traffic helper whose context has no deadline.
const DefaultTimeout = 5 * time.Second

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// SendUDP sends one datagram to dst from inside the namespace at netnsPath,
// from an ephemeral port. It does not wait for anything to come back.
func SendUDP(ctx context.Context, netnsPath string, dst netip.AddrPort, payload []byte) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	conn, err := dialIn(ctx, netnsPath, "udp4", dst)
	if err != nil {
		return fmt.Errorf("dial udp %s: %w", dst, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write(payload); err != nil {
		return fmt.Errorf("send udp to %s: %w", dst, err)
	}
	return nil
}

// UDPRoundTrip sends payload to dst from inside the namespace at netnsPath
// on a connected socket and returns the first reply. A reply only arrives if
// it comes from dst itself: through a service VIP, reverse NAT must work.
func UDPRoundTrip(ctx context.Context, netnsPath string, dst netip.AddrPort, payload []byte) ([]byte, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	conn, err := dialIn(ctx, netnsPath, "udp4", dst)
	if err != nil {
		return nil, fmt.Errorf("dial udp %s: %w", dst, err)
	}
	defer conn.Close()
	stop := closeOn(ctx.Done(), conn)
	defer stop()
	if _, err := conn.Write(payload); err != nil {
		return nil, fmt.Errorf("send udp to %s: %w", dst, err)
	}
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("read udp reply from %s: %w", dst, ctxErr(ctx, err))
	}
	return buf[:n], nil
}

// TCPRoundTrip connects to dst from inside the namespace at netnsPath,
// sends payload, half-closes and returns everything the peer sends back
// before it closes. Against an echo server through a service VIP this is a
// real handshake through DNAT and reverse NAT.
func TCPRoundTrip(ctx context.Context, netnsPath string, dst netip.AddrPort, payload []byte) ([]byte, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	conn, err := dialIn(ctx, netnsPath, "tcp4", dst)
	if err != nil {
		return nil, fmt.Errorf("connect tcp %s: %w", dst, err)
	}
	defer conn.Close()
	stop := closeOn(ctx.Done(), conn)
	defer stop()
	if _, err := conn.Write(payload); err != nil {
		return nil, fmt.Errorf("send tcp to %s: %w", dst, ctxErr(ctx, err))
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return nil, fmt.Errorf("half-close tcp to %s: %w", dst, err)
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		return nil, fmt.Errorf("read tcp reply from %s: %w", dst, ctxErr(ctx, err))
	}
	return reply, nil
}

// closeOn closes c when done is closed, so that blocked reads and writes
// return. The returned func stops the watcher.
func closeOn(done <-chan struct{}, c io.Closer) (stop func()) {
	stopped := make(chan struct{})
	var once sync.Once
	go func() {
		select {
		case <-done:
			c.Close()
		case <-stopped:
		}
	}()
	return func() { once.Do(func() { close(stopped) }) }
}

// ctxErr prefers the context's error over the one a closed socket gave.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, net.ErrClosed) {
		return cerr
	}
	return err
}

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

// dialIn dials dst from inside the namespace at netnsPath: the socket
// belongs to the namespace it was created in.
func dialIn(ctx context.Context, netnsPath, network string, dst netip.AddrPort) (net.Conn, error) {
	var conn net.Conn
	err := DoInNetns(netnsPath, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, dst.String())
		return err
	})
	return conn, err
}
