package runner

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/check"
)

// inflight is a probe on its way: its flow, and what the sender saw.
type inflight struct {
	proto  uint8
	local  netip.AddrPort // source; port 0 for icmp
	remote netip.AddrPort // destination; port 0 for icmp
	cancel context.CancelFunc
	done   chan struct{} // closed when the sender has finished

	mu      sync.Mutex
	note    string // what went wrong for the sender, if anything
	replied bool   // an answer came back to the socket
}

func (f *inflight) setNote(format string, args ...any) {
	f.mu.Lock()
	if f.note == "" {
		f.note = fmt.Sprintf(format, args...)
	}
	f.mu.Unlock()
}

// finish stops the sender (closing its socket) and returns its note.
func (f *inflight) finish(wantReply bool) string {
	f.cancel()
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.note == "" && wantReply && !f.replied {
		return "no reply reached the sender"
	}
	return f.note
}

// protoNumber is the IP protocol of a probe.
func protoNumber(p *check.Probe) uint8 {
	switch p.Proto {
	case "tcp":
		return unix.IPPROTO_TCP
	case "udp":
		return unix.IPPROTO_UDP
	}
	if p.To.Addr().Is6() {
		return unix.IPPROTO_ICMPV6
	}
	return unix.IPPROTO_ICMP
}

// sourceAddr returns the address packets to dst leave from in the
// namespace at path: the route's preferred source. Connecting a UDP socket
// sends nothing.
func sourceAddr(path string, dst netip.Addr) (netip.Addr, error) {
	var a netip.Addr
	err := inNetns(path, func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
		if err != nil {
			return err
		}
		defer c.Close()
		a = c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
		return nil
	})
	if err != nil {
		return a, fmt.Errorf("find the source address towards %s: %w", dst, err)
	}
	return a, nil
}

// startProbe sends p from src in the namespace at path. It returns once
// the first packet is on its way; errors before that are setup errors.
// The sender keeps its socket open (to receive replies) until finish.
func startProbe(ctx context.Context, p *check.Probe, path string, src netip.Addr) (*inflight, error) {
	ctx, cancel := context.WithCancel(ctx)
	f := &inflight{proto: protoNumber(p), remote: p.To, cancel: cancel, done: make(chan struct{})}
	payload := []byte(p.Payload)
	if len(payload) == 0 {
		payload = []byte("pktlife check " + p.Name)
	}
	var err error
	switch p.Proto {
	case "udp":
		err = f.sendUDP(ctx, path, src, payload)
	case "tcp":
		err = f.sendTCP(ctx, path, src, payload)
	default:
		err = f.sendICMP(ctx, path, src, payload)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("send probe %s: %w", p.Name, err)
	}
	return f, nil
}

// dialer binds to src with an ephemeral port before connecting, and
// reports the bound address on bound: the flow is known before the first
// packet leaves.
func dialer(src netip.Addr, bound chan<- netip.AddrPort) *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var berr error
		err := c.Control(func(fd uintptr) {
			var sa unix.Sockaddr
			if src.Is4() {
				sa = &unix.SockaddrInet4{Addr: src.As4()}
			} else {
				sa = &unix.SockaddrInet6{Addr: src.As16()}
			}
			if berr = unix.Bind(int(fd), sa); berr != nil {
				berr = fmt.Errorf("bind %s: %w", src, berr)
				return
			}
			got, err := unix.Getsockname(int(fd))
			if err != nil {
				berr = fmt.Errorf("getsockname: %w", err)
				return
			}
			var ap netip.AddrPort
			switch a := got.(type) {
			case *unix.SockaddrInet4:
				ap = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
			case *unix.SockaddrInet6:
				ap = netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
			}
			select {
			case bound <- ap:
			default:
			}
		})
		return errors.Join(err, berr)
	}}
}

func (f *inflight) sendUDP(ctx context.Context, path string, src netip.Addr, payload []byte) error {
	bound := make(chan netip.AddrPort, 1)
	var conn net.Conn
	err := inNetns(path, func() error {
		var err error
		conn, err = dialer(src, bound).DialContext(ctx, "udp", f.remote.String())
		return err
	})
	if err != nil {
		close(f.done)
		return fmt.Errorf("dial udp %s: %w", f.remote, err)
	}
	f.local = <-bound
	if _, err := conn.Write(payload); err != nil {
		conn.Close()
		close(f.done)
		return fmt.Errorf("send udp to %s: %w", f.remote, err)
	}
	go func() {
		defer close(f.done)
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		buf := make([]byte, 64<<10)
		if _, err := conn.Read(buf); err == nil {
			f.mu.Lock()
			f.replied = true
			f.mu.Unlock()
		} else if ctx.Err() == nil {
			f.setNote("udp: %v", err)
		}
		conn.Close()
	}()
	return nil
}

// sendTCP connects (a real handshake), sends the payload, half-closes and
// reads the echo, in the background once the SYN is on its way.
func (f *inflight) sendTCP(ctx context.Context, path string, src netip.Addr, payload []byte) error {
	bound := make(chan netip.AddrPort, 1)
	dialed := make(chan error, 1)
	var conn net.Conn
	go func() {
		dialed <- inNetns(path, func() error {
			var err error
			conn, err = dialer(src, bound).DialContext(ctx, "tcp", f.remote.String())
			return err
		})
	}()
	select {
	case f.local = <-bound:
	case err := <-dialed:
		// failed before the socket was bound: nothing was sent
		close(f.done)
		return fmt.Errorf("connect tcp %s: %w", f.remote, err)
	}
	go func() {
		defer close(f.done)
		if err := <-dialed; err != nil {
			if ctx.Err() == nil {
				f.setNote("tcp connect: %v", err)
			} else {
				f.setNote("tcp connect did not complete before the check moved on")
			}
			return
		}
		defer conn.Close()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		if _, err := conn.Write(payload); err != nil {
			f.setNote("tcp send: %v", err)
			return
		}
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			f.setNote("tcp half-close: %v", err)
			return
		}
		if _, err := io.ReadAll(conn); err != nil && ctx.Err() == nil {
			f.setNote("tcp read: %v", err)
			return
		}
		f.mu.Lock()
		f.replied = true
		f.mu.Unlock()
	}()
	return nil
}

// sendICMP sends one echo request from a raw socket bound to src and
// watches for the matching reply.
func (f *inflight) sendICMP(ctx context.Context, path string, src netip.Addr, payload []byte) error {
	network, reqType, repType := "ip4:icmp", byte(8), byte(0)
	if src.Is6() {
		network, reqType, repType = "ip6:ipv6-icmp", 128, 129
	}
	var conn net.PacketConn
	err := inNetns(path, func() error {
		var err error
		conn, err = net.ListenPacket(network, src.String())
		return err
	})
	if err != nil {
		close(f.done)
		return fmt.Errorf("open icmp socket on %s: %w", src, err)
	}
	f.local = netip.AddrPortFrom(src, 0)
	var idb [2]byte
	rand.Read(idb[:])
	id, seq := binary.BigEndian.Uint16(idb[:]), uint16(1)
	msg := make([]byte, 8+len(payload))
	msg[0] = reqType
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	copy(msg[8:], payload)
	if src.Is4() {
		binary.BigEndian.PutUint16(msg[2:], inetChecksum(msg))
	}
	if _, err := conn.WriteTo(msg, &net.IPAddr{IP: net.IP(f.remote.Addr().AsSlice())}); err != nil {
		conn.Close()
		close(f.done)
		return fmt.Errorf("send echo request to %s: %w", f.remote.Addr(), err)
	}
	go func() {
		defer close(f.done)
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		defer conn.Close()
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			b := buf[:n]
			if len(b) >= 8 && b[0] == repType && binary.BigEndian.Uint16(b[4:]) == id && binary.BigEndian.Uint16(b[6:]) == seq {
				f.mu.Lock()
				f.replied = true
				f.mu.Unlock()
				return
			}
		}
	}()
	return nil
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
