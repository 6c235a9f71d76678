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
	var conn net.Conn
	err := DoInNetns(netnsPath, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "udp4", dst.String())
		return err
	})
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
	var conn net.Conn
	err := DoInNetns(netnsPath, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "udp4", dst.String())
		return err
	})
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
	var conn net.Conn
	err := DoInNetns(netnsPath, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "tcp4", dst.String())
		return err
	})
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
