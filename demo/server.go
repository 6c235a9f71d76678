package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Datagram is one UDP datagram an echo server received.
type Datagram struct {
	From    netip.AddrPort
	Payload []byte
}

// UDPServer is a UDP echo server running inside a namespace: it records
// every datagram on Received and sends it back to its sender.
type UDPServer struct {
	Addr netip.AddrPort // where it listens

	conn     *net.UDPConn
	received chan Datagram
	done     chan struct{}
	once     sync.Once
}

// StartUDPEcho listens on addr inside the namespace at netnsPath and
// returns once the socket is bound. The server stops when ctx ends or Close
// is called.
func StartUDPEcho(ctx context.Context, netnsPath string, addr netip.AddrPort) (*UDPServer, error) {
	var conn *net.UDPConn
	err := DoInNetns(netnsPath, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", addr, err)
	}
	s := &UDPServer{
		Addr:     conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		conn:     conn,
		received: make(chan Datagram, 64),
		done:     make(chan struct{}),
	}
	go s.serve()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

func (s *UDPServer) serve() {
	defer close(s.received)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		d := Datagram{From: from, Payload: append([]byte(nil), buf[:n]...)}
		select {
		case s.received <- d:
		default: // nobody reads: drop the record, still echo
		}
		_, _ = s.conn.WriteToUDPAddrPort(d.Payload, from)
	}
}

// Received delivers the datagrams the server got, in order; it is closed
// when the server stops. It buffers 64; more are echoed but not recorded.
func (s *UDPServer) Received() <-chan Datagram { return s.received }

// Close stops the server. It is safe to call more than once.
func (s *UDPServer) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		if cerr := s.conn.Close(); cerr != nil {
			err = fmt.Errorf("close udp server: %w", cerr)
		}
	})
	return err
}

// TCPServer is a TCP echo server running inside a namespace: per
// connection it reads until the client half-closes, then writes everything
// back and closes.
type TCPServer struct {
	Addr netip.AddrPort // where it listens

	ln       *net.TCPListener
	accepted chan netip.AddrPort
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

// ConnTimeout bounds each connection a TCPServer serves.
const ConnTimeout = 5 * time.Second

// StartTCPEcho listens on addr inside the namespace at netnsPath and returns
// once the socket is listening. The server stops when ctx ends or Close is
// called.
func StartTCPEcho(ctx context.Context, netnsPath string, addr netip.AddrPort) (*TCPServer, error) {
	var ln *net.TCPListener
	err := DoInNetns(netnsPath, func() error {
		var err error
		ln, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen tcp %s: %w", addr, err)
	}
	s := &TCPServer{
		Addr:     ln.Addr().(*net.TCPAddr).AddrPort(),
		ln:       ln,
		accepted: make(chan netip.AddrPort, 64),
		done:     make(chan struct{}),
	}
	s.wg.Add(1)
	go s.serve()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

func (s *TCPServer) serve() {
	defer s.wg.Done()
	defer close(s.accepted)
	for {
		c, err := s.ln.AcceptTCP()
		if err != nil {
			return // closed
		}
		select {
		case s.accepted <- c.RemoteAddr().(*net.TCPAddr).AddrPort():
		default:
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(ConnTimeout))
			stop := closeOn(s.done, c)
			defer stop()
			data, err := io.ReadAll(c)
			if err != nil && !errors.Is(err, net.ErrClosed) {
				return
			}
			_, _ = c.Write(data)
		}()
	}
}

// Accepted delivers the remote address of every connection the server
// accepted; it is closed when the server stops. It buffers 64.
func (s *TCPServer) Accepted() <-chan netip.AddrPort { return s.accepted }

// Close stops the server and waits for its connections to end. It is safe
// to call more than once.
func (s *TCPServer) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		if cerr := s.ln.Close(); cerr != nil {
			err = fmt.Errorf("close tcp server: %w", cerr)
		}
		s.wg.Wait()
	})
	return err
}
