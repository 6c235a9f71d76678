package trace_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// Environment of the helper process.
const (
	helperNetnsEnv   = "PKTLIFE_TEST_HELPER_NETNS"   // comma-separated paths; "-" is the helper's own
	helperStateEnv   = "PKTLIFE_TEST_HELPER_STATE"   // state directory; "" is the default
	helperMountsEnv  = "PKTLIFE_TEST_HELPER_MOUNTS"  // "", privateRun, or container=BPFFS
	helperModeEnv    = "PKTLIFE_TEST_HELPER_MODE"    // "" traces, "cleanup" cleans up
	helperRingEnv    = "PKTLIFE_TEST_HELPER_RING"    // ring size in bytes
	helperJournalEnv = "PKTLIFE_TEST_HELPER_JOURNAL" // journal size in slots, when not 0
)

// Mount set-ups of the helper, made in the mount namespace it was started
// in (never the test's own).
const (
	// privateRun is `unshare -m` with a private /run and no bpffs.
	privateRun = "private-run"
	// containerPrefix is a container of the node pod's kind: its own PID
	// namespace and /proc, a private /run with the node's /run/netns, and
	// the node's bpffs (the path after it) at /sys/fs/bpf.
	containerPrefix = "container="
)

// TestInterposeHelperProcess is not a test: the tail-call kill tests run
// the test binary again with only this function, as a pktlife that
// interposes tail calls, says it is ready and traces until it is killed or
// told to stop (SIGTERM), or as `pktlife cleanup`.
func TestInterposeHelperProcess(t *testing.T) {
	nss := os.Getenv(helperNetnsEnv)
	if nss == "" {
		t.Skip("helper process of the tail-call kill tests")
	}
	var paths []string
	if nss != "-" {
		// Opened before the mounts, which may hide /run/netns.
		for _, p := range strings.Split(nss, ",") {
			f, err := os.Open(p)
			if err != nil {
				helperFail("open netns: %v", err)
			}
			heldNetns = append(heldNetns, f)
			paths = append(paths, fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
		}
	}
	if err := helperMounts(os.Getenv(helperMountsEnv)); err != nil {
		helperFail("%v", err)
	}
	state := os.Getenv(helperStateEnv)
	if os.Getenv(helperModeEnv) == "cleanup" {
		notes, err := trace.Cleanup(state)
		if err != nil {
			helperFail("%v", err)
		}
		b, _ := json.Marshal(notes)
		fmt.Printf("helper-cleanup %s\n", b)
		os.Exit(0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	opts := trace.Options{Netns: paths, TailCalls: trace.TailCallsInterpose, Idle: 200 * time.Millisecond}
	opts.RingSize, _ = strconv.Atoi(os.Getenv(helperRingEnv))
	trace.SetStateDirForTest(&opts, state)
	if n, _ := strconv.Atoi(os.Getenv(helperJournalEnv)); n > 0 {
		trace.SetJournalSlotsForTest(&opts, n)
	}
	tr, err := trace.New(opts)
	if err != nil {
		helperFail("%v", err)
	}
	b, _ := json.Marshal(tr.Interposed())
	fmt.Printf("helper-ready %s\n", b)
	tr.Run(ctx, func(*journey.Journey) bool { return true })
	err = tr.Close()
	s := tr.Stats()
	fmt.Printf("helper-closed lost=%d events=%d err=%v\n", s.Lost, s.Events, err)
	os.Exit(0)
}

// heldNetns keeps the helper's namespace files open for its lifetime.
var heldNetns []*os.File

func helperFail(format string, args ...any) {
	fmt.Printf("helper-error "+format+"\n", args...)
	os.Exit(2)
}

// helperMounts sets up the helper's private mount namespace.
func helperMounts(kind string) error {
	if kind == "" {
		return nil
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// What the container is given from the node is opened before /run is
	// hidden.
	hostRunNetns, err := os.Open("/run/netns")
	if err != nil {
		return fmt.Errorf("open /run/netns: %w", err)
	}
	defer hostRunNetns.Close()
	bpffs, container := strings.CutPrefix(kind, containerPrefix)
	var hostBPFFS *os.File
	if container && bpffs != "" {
		if hostBPFFS, err = os.Open(bpffs); err != nil {
			return fmt.Errorf("open the node's bpffs: %w", err)
		}
		defer hostBPFFS.Close()
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount private /run: %w", err)
	}
	if isBPFFS("/sys/fs/bpf") {
		if err := unix.Mount("tmpfs", "/sys/fs/bpf", "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("hide /sys/fs/bpf: %w", err)
		}
	}
	if !container {
		return nil
	}
	if err := os.MkdirAll("/run/netns", 0o755); err != nil {
		return err
	}
	src := fmt.Sprintf("/proc/self/fd/%d", hostRunNetns.Fd())
	if err := unix.Mount(src, "/run/netns", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind the node's /run/netns: %w", err)
	}
	if hostBPFFS != nil {
		if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", hostBPFFS.Fd()), "/sys/fs/bpf", "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind the node's bpffs %s: %w", bpffs, err)
		}
	}
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return fmt.Errorf("mount the container's /proc: %w", err)
	}
	return nil
}

// helperCtx is where a helper runs.
type helperCtx string

const (
	ctxHost      helperCtx = "host"          // the test's namespaces, with --netns
	ctxIPNetns   helperCtx = "ip-netns-exec" // ip netns exec NODE
	ctxUnshare   helperCtx = "unshare-m"     // private mount namespace, private /run, no bpffs
	ctxContainer helperCtx = "container"     // own PID and mount namespaces, the node's bpffs bind-mounted
)

// helperSpec says how to run a helper.
type helperSpec struct {
	ctx     helperCtx
	netns   []string // namespaces to trace (paths), for every context but ip-netns-exec
	node    string   // the namespace ip netns exec enters, by name
	state   string   // state directory, as in Options.StateDir
	bpffs   string   // the node's bpffs a container is given
	ring    int
	journal int
	cleanup bool
}

// command builds the helper's command line and environment.
func (s helperSpec) command() *exec.Cmd {
	self, _ := filepath.Abs(os.Args[0])
	args := []string{"-test.run=^TestInterposeHelperProcess$"}
	netns := strings.Join(s.netns, ",")
	var cmd *exec.Cmd
	mounts := ""
	switch s.ctx {
	case ctxIPNetns:
		cmd = exec.Command("ip", append([]string{"netns", "exec", s.node, self}, args...)...)
		netns = "-"
	case ctxUnshare:
		cmd = exec.Command(self, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		mounts = privateRun
	case ctxContainer:
		cmd = exec.Command(self, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID}
		mounts = containerPrefix + s.bpffs
	default:
		cmd = exec.Command(self, args...)
	}
	if netns == "" {
		netns = "-"
	}
	mode := ""
	if s.cleanup {
		mode = "cleanup"
	}
	cmd.Env = append(os.Environ(), helperNetnsEnv+"="+netns, helperStateEnv+"="+s.state,
		helperMountsEnv+"="+mounts, helperModeEnv+"="+mode, helperRingEnv+"="+strconv.Itoa(s.ring), helperJournalEnv+"="+strconv.Itoa(s.journal))
	return cmd
}

// helper is a running helper process.
type helper struct {
	cmd    *exec.Cmd
	ready  chan []trace.InterposedSlot // receives once, when it says it is ready
	lines  chan string                 // its other lines, closed at EOF
	stderr *bytes.Buffer
}

// launch starts a helper without waiting for it.
func launch(t *testing.T, s helperSpec) *helper {
	t.Helper()
	h := &helper{cmd: s.command(), ready: make(chan []trace.InterposedSlot, 1), lines: make(chan string, 16), stderr: &bytes.Buffer{}}
	h.cmd.Stderr = h.stderr
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	t.Cleanup(func() {
		if h.cmd.ProcessState == nil {
			h.cmd.Process.Kill()
			h.cmd.Wait()
		}
	})
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "helper-ready "); ok {
				var slots []trace.InterposedSlot
				json.Unmarshal([]byte(rest), &slots)
				h.ready <- slots
				continue
			}
			if strings.HasPrefix(line, "helper-") {
				h.lines <- line
			}
		}
	}()
	return h
}

// waitReady waits for the ready line; it fails the test when the helper
// says something else first or exits.
func (h *helper) waitReady(t *testing.T) []trace.InterposedSlot {
	t.Helper()
	select {
	case slots := <-h.ready:
		return slots
	case line, ok := <-h.lines:
		h.cmd.Wait()
		t.Fatalf("helper not ready: %q (open %v)\n%s", line, ok, h.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("helper not ready within 60s\n%s", h.stderr)
	}
	return nil
}

// finish waits for the helper to exit and returns its last helper- line.
func (h *helper) finish() (string, error) {
	var last string
	for line := range h.lines {
		last = line
	}
	err := h.cmd.Wait()
	return last, err
}

// startHelper runs a tracing helper and waits until it is ready.
func startHelper(t *testing.T, s helperSpec) (*exec.Cmd, []trace.InterposedSlot) {
	t.Helper()
	h := launch(t, s)
	return h.cmd, h.waitReady(t)
}

// runCleanup runs `pktlife cleanup` in the spec's context and returns what
// it said.
func runCleanup(t *testing.T, s helperSpec) []string {
	t.Helper()
	s.cleanup = true
	h := launch(t, s)
	last, err := h.finish()
	rest, ok := strings.CutPrefix(last, "helper-cleanup ")
	if err != nil || !ok {
		t.Fatalf("cleanup in %s: %v, said %q\n%s", s.ctx, err, last, h.stderr)
	}
	var notes []string
	json.Unmarshal([]byte(rest), &notes)
	return notes
}
