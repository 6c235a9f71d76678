package trace_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// stateDir is a private state directory for one test, where no state is
// yet: the interposer mounts a bpffs there and removes it when done. It is
// unmounted at cleanup even when the test failed before the tracer could.
func stateDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	t.Cleanup(func() {
		if isBPFFS(dir) {
			t.Errorf("bpffs still mounted at %s after the test", dir)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

// jump is one tail call as the tests compare them.
type jump struct {
	Map      string
	Slot     uint32
	Prog     string // "" when missed
	Missed   bool
	Inferred bool
}

func (s jump) String() string {
	out := fmt.Sprintf("[%s/%d] %s", s.Map, s.Slot, s.Prog)
	if s.Missed {
		out += "(missed)"
	}
	if s.Inferred {
		out += "(inferred)"
	}
	return out
}

// chainOf lists a journey's tail calls, hop after hop.
func chainOf(j *journey.Journey) []jump {
	var out []jump
	for _, h := range j.Hops {
		for _, tc := range h.TailCalls {
			out = append(out, jump{Map: tc.Map, Slot: tc.Slot, Prog: tc.Prog.Name, Missed: tc.Missed, Inferred: tc.Inferred})
		}
	}
	return out
}

// collector runs a tracer and keeps the journeys it emits.
type collector struct {
	mu     sync.Mutex
	js     []*journey.Journey
	more   chan struct{} // closed and replaced when a journey arrives
	cancel context.CancelFunc
	done   chan error
}

// collect runs tr until the test ends.
func collect(t *testing.T, tr *trace.Tracer) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{more: make(chan struct{}), cancel: cancel, done: make(chan error, 1)}
	go func() {
		c.done <- tr.Run(ctx, func(j *journey.Journey) bool {
			c.mu.Lock()
			c.js = append(c.js, j)
			close(c.more)
			c.more = make(chan struct{})
			c.mu.Unlock()
			return true
		})
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop ends Run and waits for it; before the tracer closes. Safe twice.
func (c *collector) stop(t *testing.T) {
	t.Helper()
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	if err := <-c.done; err != nil {
		t.Errorf("run tracer: %v", err)
	}
}

// wait returns the first journey for which pred holds, waiting for it at
// most 10 s.
func (c *collector) wait(t *testing.T, desc string, pred func(*journey.Journey) bool) *journey.Journey {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		i := slices.IndexFunc(c.js, pred)
		var j *journey.Journey
		if i >= 0 {
			j = c.js[i]
		}
		all := slices.Clone(c.js)
		more := c.more
		c.mu.Unlock()
		if j != nil {
			return j
		}
		select {
		case <-more:
		case <-timeout:
			var lines []string
			for _, j := range all {
				lines = append(lines, describe(j))
			}
			t.Fatalf("no journey %s within 10s among %d:\n%s", desc, len(all), strings.Join(lines, "\n"))
		}
	}
}

// slots dumps every slot of prog_arrays: program ID, 0 when empty.
func slots(t *testing.T, ms ...*ebpf.Map) [][]uint32 {
	t.Helper()
	var out [][]uint32
	for _, m := range ms {
		row := make([]uint32, m.MaxEntries())
		for i := range row {
			var id uint32
			err := m.Lookup(uint32(i), &id)
			if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				t.Fatalf("look up slot %d: %v", i, err)
			}
			row[i] = id
		}
		out = append(out, row)
	}
	return out
}

func equalSlots(a, b [][]uint32) bool {
	return slices.EqualFunc(a, b, func(x, y []uint32) bool { return slices.Equal(x, y) })
}

// newInterposer starts a tracer that interposes tail calls on the given
// namespaces, closed at cleanup.
func newInterposer(t *testing.T, dir string, opts trace.Options) *trace.Tracer {
	t.Helper()
	opts.TailCalls = trace.TailCallsInterpose
	if opts.Idle == 0 {
		opts.Idle = 500 * time.Millisecond
	}
	trace.SetStateDirForTest(&opts, dir)
	tr, err := trace.New(opts)
	if err != nil {
		t.Fatalf("new tracer: %v", err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("close tracer: %v", err)
		}
	})
	return tr
}

// checkNoLeftovers checks that a state directory pktlife mounted is gone:
// no journal, no shadow pin, no bpffs.
func checkNoLeftovers(t *testing.T, dir string) {
	t.Helper()
	if isBPFFS(dir) {
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("bpffs still mounted at %s, holding %v", dir, names)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir %s still present (stat: %v)", dir, err)
	}
}

// describe lists a journey's hops, for failure messages.
func describe(j *journey.Journey) string {
	var b strings.Builder
	fmt.Fprintf(&b, "journey %s %s (%s):\n", j.Tuple, j.Fate, j.End)
	for _, h := range j.Hops {
		fmt.Fprintf(&b, "  %s %s@%s progs=%v tail_calls=%v\n", h.Hook, h.Device.Name, h.Device.NetnsName, h.Progs, h.TailCalls)
	}
	return b.String()
}

// hasHop reports whether the journey passed a hook on the named device.
// (Packet sockets' clones of a packet, freed on their own, make journeys of
// a single consume_skb hop with the same tuple.)
func hasHop(j *journey.Journey, h journey.Hook, dev string) bool {
	return slices.ContainsFunc(j.Hops, func(hop journey.Hop) bool { return hop.Hook == h && hop.Device.Name == dev })
}
