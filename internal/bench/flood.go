package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/demo"
)

// FloodOptions shape a UDP flood.
type FloodOptions struct {
	Senders  int           // sending goroutines, each with its own socket; 0 = 2
	Batch    int           // datagrams per sendmmsg; 0 = 64
	Payload  int           // UDP payload bytes; 0 = 18 (a 64-byte frame)
	Duration time.Duration // how long to send; 0 = 3 s
	// Rate caps the datagrams per second over all senders; 0 sends as fast
	// as the senders can.
	Rate int
}

func (o *FloodOptions) defaults() {
	if o.Senders <= 0 {
		o.Senders = 2
	}
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.Payload <= 0 {
		o.Payload = 18
	}
	if o.Duration <= 0 {
		o.Duration = 3 * time.Second
	}
}

// FloodResult is what one flood did.
type FloodResult struct {
	Sent     uint64        // datagrams the senders' sendmmsg calls accepted
	Received uint64        // datagrams pod B's socket read
	Elapsed  time.Duration // from the first send to the last
	// CPU is the CPU time the flood took: this process's (senders, the
	// sink, a tracer's reader; the packets' whole path through the node
	// runs as softirq work in the senders' context and is charged to them)
	// and the kernel's ksoftirqd threads' (softirq work deferred there).
	CPU time.Duration
}

// PerCPU is the datagrams that reached pod B per second of CPU time: on a
// machine shared with other work this moves less than Rate, which counts
// the other work's turns on the CPUs too.
func (r FloodResult) PerCPU() float64 {
	if r.CPU <= 0 {
		return 0
	}
	return float64(r.Received) / r.CPU.Seconds()
}

// Rate is the datagrams per second that reached pod B's socket.
func (r FloodResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Received) / r.Elapsed.Seconds()
}

// SendRate is the datagrams per second the senders got out.
func (r FloodResult) SendRate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// Sink is pod B's receiving socket for floods: it reads everything with
// recvmmsg and counts it.
type Sink struct {
	conn  *net.UDPConn
	pc    *ipv4.PacketConn
	count atomic.Uint64
	done  chan struct{}
	err   error
}

// StartSink binds addr inside the namespace at netnsPath and reads until
// Close.
func StartSink(netnsPath string, addr netip.AddrPort) (*Sink, error) {
	var conn *net.UDPConn
	err := demo.DoInNetns(netnsPath, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", addr, err)
	}
	if err := setBuf(conn, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		conn.Close()
		return nil, err
	}
	s := &Sink{conn: conn, pc: ipv4.NewPacketConn(conn), done: make(chan struct{})}
	go s.read()
	return s, nil
}

func (s *Sink) read() {
	defer close(s.done)
	ms := make([]ipv4.Message, 64)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	for {
		n, err := s.pc.ReadBatch(ms, 0)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.err = fmt.Errorf("read flood: %w", err)
			}
			return
		}
		s.count.Add(uint64(n))
	}
}

// Count is the number of datagrams read so far.
func (s *Sink) Count() uint64 { return s.count.Load() }

// Close stops reading. It is safe to call twice.
func (s *Sink) Close() error {
	err := s.conn.Close()
	<-s.done
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return errors.Join(err, s.err)
}

func setBuf(c *net.UDPConn, opt, size int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("get raw socket: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, size)
	}); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("set socket buffer: %w", serr)
	}
	return nil
}

// Flood sends UDP datagrams from the namespace at netnsPath to dst with
// sendmmsg from several goroutines for o.Duration, and reports how many
// datagrams left and how many the sink counted meanwhile.
func Flood(ctx context.Context, netnsPath string, dst netip.AddrPort, sink *Sink, o FloodOptions) (FloodResult, error) {
	o.defaults()
	conns := make([]*net.UDPConn, 0, o.Senders)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < o.Senders; i++ {
		var c *net.UDPConn
		err := demo.DoInNetns(netnsPath, func() error {
			var err error
			c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
			return err
		})
		if err != nil {
			return FloodResult{}, fmt.Errorf("dial udp %s: %w", dst, err)
		}
		conns = append(conns, c)
	}
	// Start together, end together: the deadline is the same for all.
	start := time.Now()
	end := start.Add(o.Duration)
	var sent atomic.Uint64
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	before := sink.Count()
	cpu0 := floodCPU()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := send(ctx, c, end, o, o.Rate/o.Senders)
			sent.Add(n)
			errs[i] = err
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Packets in flight through the node reach the sink within a
	// millisecond; wait for the count to stand still (bounded).
	cpu := floodCPU() - cpu0
	received := settle(sink)
	return FloodResult{Sent: sent.Load(), Received: received - before, Elapsed: elapsed, CPU: cpu}, errors.Join(errs...)
}

// settle waits until the sink's count stops growing for 20 ms (at most
// 500 ms) and returns it.
func settle(sink *Sink) uint64 {
	last := sink.Count()
	for i := 0; i < 25; i++ {
		time.Sleep(20 * time.Millisecond)
		cur := sink.Count()
		if cur == last {
			return cur
		}
		last = cur
	}
	return last
}

// send is one sender: batches of datagrams until end, paced to rate per
// second when rate > 0.
func send(ctx context.Context, c *net.UDPConn, end time.Time, o FloodOptions, rate int) (uint64, error) {
	pc := ipv4.NewPacketConn(c)
	payload := make([]byte, o.Payload)
	ms := make([]ipv4.Message, o.Batch)
	for i := range ms {
		ms[i].Buffers = [][]byte{payload}
	}
	var sent uint64
	start := time.Now()
	for {
		now := time.Now()
		if !now.Before(end) || ctx.Err() != nil {
			return sent, nil
		}
		if rate > 0 {
			due := start.Add(time.Duration(float64(sent) / float64(rate) * float64(time.Second)))
			if d := due.Sub(now); d > 0 {
				time.Sleep(d)
				continue
			}
		}
		n, err := pc.WriteBatch(ms, 0)
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) || errors.Is(err, os.ErrDeadlineExceeded) {
				continue // a full queue on the way: try again
			}
			if errors.Is(err, unix.ECONNREFUSED) {
				continue // an ICMP error from an earlier datagram
			}
			return sent, fmt.Errorf("send flood: %w", err)
		}
		sent += uint64(n)
	}
}
