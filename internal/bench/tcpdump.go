package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pktlife/pktlife/demo"
)

// tcpdump, the one every Linux user knows, is the benchmark's reference:
// the same floods with tcpdump capturing on every device of the topology.
// One tcpdump per namespace with -i any (every device of that namespace,
// loopback included, as the traced cases attach tc to every device of the
// three namespaces): a flood packet is captured on pod A's eth0, the
// node's lxc-poda and lxc-podb and pod B's eth0. It writes to /dev/null
// (-w), so that neither printing nor a disk counts; -n looks nothing up.

// TcpdumpPath is the tcpdump the benchmark runs (Debian's).
const TcpdumpPath = "/usr/bin/tcpdump"

// TcpdumpStats are what the tcpdumps of one flood said at exit, summed.
type TcpdumpStats struct {
	// Received are the packets the filter accepted in the kernel ("received
	// by filter": Linux counts only accepted ones), copied to tcpdump's
	// ring or Dropped there (the ring was full).
	Received, Dropped uint64
	// Captured are the packets tcpdump wrote before SIGINT stopped it; it
	// leaves what its ring still holds.
	Captured uint64
}

// Tcpdump is tcpdump running in each of a set of namespaces.
type Tcpdump struct {
	procs []*tcpdumpProc
}

type tcpdumpProc struct {
	netns string
	cmd   *exec.Cmd
	done  chan struct{} // closed when stderr ends
	rest  []string      // stderr after "listening on", complete once done
}

// StartTcpdump starts tcpdump -i any with the filter expression in each
// namespace and returns once each one says it is listening (its filter is
// installed and its socket bound). Stop ends them.
func StartTcpdump(ctx context.Context, netnsPaths []string, expr string) (_ *Tcpdump, err error) {
	t := &Tcpdump{}
	defer func() {
		if err != nil {
			t.kill()
		}
	}()
	for _, ns := range netnsPaths {
		p, err := startTcpdumpIn(ctx, ns, expr)
		if err != nil {
			return nil, err
		}
		t.procs = append(t.procs, p)
	}
	return t, nil
}

func startTcpdumpIn(ctx context.Context, ns, expr string) (*tcpdumpProc, error) {
	cmd := exec.Command(TcpdumpPath, "-i", "any", "-n", "-w", "/dev/null", expr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("pipe tcpdump stderr: %w", err)
	}
	// The child inherits the namespace of the thread that forks it.
	if err := demo.DoInNetns(ns, cmd.Start); err != nil {
		return nil, fmt.Errorf("start tcpdump in %s: %w", ns, err)
	}
	p := &tcpdumpProc{netns: ns, cmd: cmd, done: make(chan struct{})}
	listening := make(chan bool, 1)
	var early []string // before "listening on": read only after listening says false
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		ok := false
		for sc.Scan() {
			l := sc.Text()
			switch {
			case ok:
				p.rest = append(p.rest, l)
			case strings.HasPrefix(l, "tcpdump: listening on ") || strings.HasPrefix(l, "listening on "):
				ok = true
				listening <- true
			default:
				early = append(early, l)
			}
		}
		if !ok {
			listening <- false
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case ok := <-listening:
		if ok {
			return p, nil
		}
		err := cmd.Wait()
		return nil, fmt.Errorf("start tcpdump in %s: exited (%v): %s", ns, err, strings.Join(early, "; "))
	case <-time.After(10 * time.Second):
		p.kill()
		return nil, fmt.Errorf("start tcpdump in %s: not listening after 10s", ns)
	case <-ctx.Done():
		p.kill()
		return nil, fmt.Errorf("start tcpdump in %s: %w", ns, ctx.Err())
	}
}

func (p *tcpdumpProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
	_ = p.cmd.Wait()
}

func (t *Tcpdump) kill() {
	for _, p := range t.procs {
		p.kill()
	}
}

// Stop sends each tcpdump SIGINT, waits for it, checks that it exited
// cleanly, and sums what it reported.
func (t *Tcpdump) Stop() (TcpdumpStats, error) {
	var st TcpdumpStats
	var errs []error
	for _, p := range t.procs {
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			errs = append(errs, fmt.Errorf("interrupt tcpdump in %s: %w", p.netns, err))
		}
	}
	for _, p := range t.procs {
		<-p.done
		out := p.rest
		if err := p.cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop tcpdump in %s: %w: %s", p.netns, err, strings.Join(out, "; ")))
			continue
		}
		s, err := parseTcpdumpStats(out)
		if err != nil {
			errs = append(errs, fmt.Errorf("stop tcpdump in %s: %w", p.netns, err))
		}
		st.Captured += s.Captured
		st.Received += s.Received
		st.Dropped += s.Dropped
	}
	return st, errors.Join(errs...)
}

// parseTcpdumpStats reads tcpdump's closing lines: "N packets captured",
// "N packets received by filter", "N packets dropped by kernel".
func parseTcpdumpStats(lines []string) (TcpdumpStats, error) {
	var st TcpdumpStats
	found := 0
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 3 || !strings.HasPrefix(f[1], "packet") {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch strings.Join(f[2:], " ") {
		case "captured":
			st.Captured, found = n, found+1
		case "received by filter":
			st.Received, found = n, found+1
		case "dropped by kernel":
			st.Dropped, found = n, found+1
		}
	}
	if found < 3 {
		return st, fmt.Errorf("read tcpdump statistics: %d of 3 lines in %q", found, lines)
	}
	return st, nil
}
