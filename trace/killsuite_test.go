package trace_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/internal/netnstest"
)

// killsPerContext is how many times the kill suite kills a pktlife in each
// context; PKTLIFE_KILLS overrides it (the VM runs fewer).
func killsPerContext(t *testing.T) int {
	if v, err := strconv.Atoi(os.Getenv("PKTLIFE_KILLS")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return 10
	}
	return 100
}

// nodeBPFFS mounts a bpffs of the test's own in the node's (the test's)
// mount namespace, as an operator's /sys/fs/bpf would be, and checks at the
// end that pktlife left nothing in it. It is under /run, which the helpers
// in private mount namespaces hide, so that they reach it only as pktlife
// must: through the node's mount namespace.
func nodeBPFFS(t *testing.T) string {
	t.Helper()
	return mountBPFFS(t, 0)
}

// mountBPFFS mounts a bpffs with flags (e.g. read-only) under /run.
func mountBPFFS(t *testing.T, flags uintptr) string {
	t.Helper()
	parent, err := os.MkdirTemp("/run", "pktlife-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	dir := filepath.Join(parent, "bpffs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", dir, "bpf", flags, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs: %v", err)
	}
	t.Cleanup(func() {
		if left := pinsIn(dir); len(left) > 0 {
			t.Errorf("left in the node's bpffs: %v", left)
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount bpffs: %v", err)
		}
	})
	return dir
}

// pinsIn lists what a bpffs holds besides the kernel's iterators.
func pinsIn(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir && !strings.HasSuffix(p, ".debug") {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return out
}

// mountsUnder lists the mount points at or below dir, from the test's
// mount namespace.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// killEnv is the chain datapath, its untraced behaviour, and the
// machine's state that nothing may add to.
type killEnv struct {
	*chainEnv
	bpffs string
	base  map[uint16]pathResult
	baseC map[int]uint64
	slots [][]uint32
}

func newKillEnv(t *testing.T) *killEnv {
	t.Helper()
	netnstest.RequireRoot(t)
	k := &killEnv{chainEnv: newChainEnvOn(t, false, true)}
	k.bpffs = nodeBPFFS(t)
	base, baseC := k.round(t)
	k.base = base
	k.baseC = map[int]uint64{}
	for c, v := range baseC {
		k.baseC[int(c)] = v
	}
	o := &k.chain.Objects
	k.slots = slots(t, o.ChainJmpA, o.ChainJmpB)
	return k
}

// spec is how a helper runs in ctx on this datapath, with its state in
// the test's bpffs.
func (k *killEnv) spec(ctx helperCtx) helperSpec {
	s := helperSpec{ctx: ctx, netns: k.netns(), node: k.topo.Node.Name, state: filepath.Join(k.bpffs, "pktlife"), bpffs: k.bpffs}
	if ctx == ctxContainer {
		s.state = "" // the default: /sys/fs/bpf/pktlife, the node's bpffs as the container sees it
	}
	return s
}

// check asserts that the datapath does what it did untraced, that cleanup
// in ctx restores every slot, and that nothing of pktlife is left: no
// filter or tcx link in the topology's namespaces, no pin, no mount. (The
// tracer creates no namespace; other packages' tests, which may run at the
// same time, do, so the machine's namespace list proves nothing here.)
func (k *killEnv) check(t *testing.T, ctx helperCtx, what string) {
	t.Helper()
	k.same(t, what+", before cleanup")
	runCleanup(t, k.spec(ctx))
	o := &k.chain.Objects
	if got := slots(t, o.ChainJmpA, o.ChainJmpB); !equalSlots(got, k.slots) {
		t.Fatalf("%s: after cleanup the prog_arrays hold %v, untraced %v", what, got, k.slots)
	}
	k.same(t, what+", after cleanup")
	if left := pinsIn(k.bpffs); len(left) > 0 {
		t.Fatalf("%s: left in the node's bpffs after cleanup: %v", what, left)
	}
	if m := mountsUnder(t, k.bpffs); !slices.Equal(m, []string{k.bpffs}) {
		t.Fatalf("%s: mounts in the node's bpffs: %v", what, m)
	}
	for _, n := range k.topo.Namespaces() {
		left, err := netnstest.PktlifeAttachments(n.Do)
		if err != nil || len(left) > 0 {
			t.Fatalf("%s: pktlife attached in %s: %v (%v)", what, n.Name, left, err)
		}
	}
}

// same sends one datagram along every path of the chain and compares
// frames, payloads, echoes, marks and counters with the untraced run.
func (k *killEnv) same(t *testing.T, what string) {
	t.Helper()
	got, gotC := k.round(t)
	for _, p := range demo.ChainPaths() {
		g, w := got[p.Port], k.base[p.Port]
		if !slices.Equal(g.frame, w.frame) || !slices.Equal(g.payload, w.payload) || !slices.Equal(g.echo, w.echo) || g.mark != w.mark {
			t.Fatalf("%s: port %d differs from untraced: frame %x/%x payload %q/%q echo %q/%q mark %#x/%#x",
				what, p.Port, g.frame, w.frame, g.payload, w.payload, g.echo, w.echo, g.mark, w.mark)
		}
	}
	for c, v := range gotC {
		if k.baseC[int(c)] != v {
			t.Fatalf("%s: chain counter %d went up by %d, untraced %d", what, c, v, k.baseC[int(c)])
		}
	}
}

// phase is when a kill lands.
type phase int

const (
	phaseStart  phase = iota // from exec through load, attach and interposition
	phaseSteady              // ready, tracing
	phaseExit                // after SIGTERM, while it restores and detaches
	phases
)

var phaseNames = [phases]string{"start/attach/interpose", "steady state", "exit"}

// TestTailCallsKillSuite kills an interposing pktlife with SIGKILL at
// random moments from exec to exit, in each context pktlife is run in: the
// node's namespaces with --netns, ip netns exec, unshare -m with a private
// /run and no bpffs, and a container given the node's bpffs. After each
// kill the datapath does exactly what it did untraced, cleanup run in the
// same context restores every slot, and no filter, link, pin, mount or
// namespace of pktlife is left.
func TestTailCallsKillSuite(t *testing.T) {
	k := newKillEnv(t)
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("PKTLIFE_KILL_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (PKTLIFE_KILL_SEED reproduces it), %d kills per context", seed, killsPerContext(t))
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, ctx := range []helperCtx{ctxHost, ctxIPNetns, ctxUnshare, ctxContainer} {
		t.Run(string(ctx), func(t *testing.T) {
			// A clean run first: how long a start takes here, and that the
			// context works at all.
			began := time.Now()
			h := launch(t, k.spec(ctx))
			interposed := h.waitReady(t)
			ready := time.Since(began)
			if len(interposed) != 4 {
				t.Fatalf("interposed %d slots, want 4: %+v", len(interposed), interposed)
			}
			h.cmd.Process.Signal(syscall.SIGTERM)
			if last, err := h.finish(); err != nil || !strings.Contains(last, "err=<nil>") {
				t.Fatalf("helper's exit: %v, said %q\n%s", err, last, h.stderr)
			}
			k.check(t, ctx, "after a clean exit")

			var count [phases]int
			for i := range killsPerContext(t) {
				p, delay := pickMoment(rng, ready)
				h := launch(t, k.spec(ctx))
				switch p {
				case phaseStart:
					time.Sleep(delay)
				case phaseSteady:
					h.waitReady(t)
					time.Sleep(delay)
				case phaseExit:
					h.waitReady(t)
					h.cmd.Process.Signal(syscall.SIGTERM)
					time.Sleep(delay)
				}
				h.cmd.Process.Kill()
				h.finish()
				count[p]++
				k.check(t, ctx, fmt.Sprintf("kill %d (%s, +%s)", i, phaseNames[p], delay))
			}
			t.Logf("%s: %d kills (%s %d, %s %d, %s %d), start takes %s; leftovers 0, datapath differences 0",
				ctx, count[0]+count[1]+count[2], phaseNames[0], count[0], phaseNames[1], count[1], phaseNames[2], count[2], ready.Round(time.Millisecond))
		})
	}
}

// pickMoment spreads kills over a start that takes about ready: most
// during the start, the rest while tracing and while exiting.
func pickMoment(rng *rand.Rand, ready time.Duration) (phase, time.Duration) {
	switch r := rng.IntN(10); {
	case r < 6:
		return phaseStart, time.Duration(rng.Int64N(int64(ready) * 11 / 10))
	case r < 8:
		return phaseSteady, time.Duration(rng.Int64N(int64(100 * time.Millisecond)))
	default:
		return phaseExit, time.Duration(rng.Int64N(int64(60 * time.Millisecond)))
	}
}
