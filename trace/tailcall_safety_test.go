package trace_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/bpf/demodp"
)

// outcome waits until a helper is ready ("" returned) or says why not (the
// line returned, after it exited).
func (h *helper) outcome(t *testing.T) string {
	t.Helper()
	select {
	case <-h.ready:
		return ""
	case line := <-h.lines:
		h.cmd.Wait()
		return line
	case <-time.After(60 * time.Second):
		t.Fatalf("helper neither ready nor failed within 60s\n%s", h.stderr)
	}
	return ""
}

// refused starts a helper that must refuse to interpose, and returns its
// one-line reason, checking that it changed no slot and pinned nothing.
func (k *killEnv) refused(t *testing.T, s helperSpec, pinned ...string) string {
	t.Helper()
	h := launch(t, s)
	line := h.outcome(t)
	msg, ok := strings.CutPrefix(line, "helper-error ")
	if !ok {
		h.cmd.Process.Kill()
		t.Fatalf("%s: started (said %q); want a refusal", s.ctx, line)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("refusal is not one line: %q", msg)
	}
	o := &k.chain.Objects
	if got := slots(t, o.ChainJmpA, o.ChainJmpB); !equalSlots(got, k.slots) {
		t.Errorf("%s: the refused start changed the prog_arrays: %v, untraced %v", s.ctx, got, k.slots)
	}
	for _, dir := range pinned {
		if left := pinsIn(dir); len(left) > 0 {
			t.Errorf("%s: the refused start left %v in %s", s.ctx, left, dir)
		}
	}
	k.same(t, "after a refused start")
	return msg
}

// TestTailCallsConcurrent starts two interposing pktlife processes at once
// from different mount namespaces: exactly one interposes, the other says
// who it is, and the datapath is as untraced throughout.
func TestTailCallsConcurrent(t *testing.T) {
	k := newKillEnv(t)
	pairs := [][2]helperCtx{{ctxHost, ctxUnshare}, {ctxIPNetns, ctxContainer}, {ctxUnshare, ctxIPNetns}, {ctxContainer, ctxHost}}
	for round := range 3 {
		for _, p := range pairs {
			what := fmt.Sprintf("round %d, %s and %s", round, p[0], p[1])
			hs := [2]*helper{launch(t, k.spec(p[0])), launch(t, k.spec(p[1]))}
			var outs [2]chan string
			for i, h := range hs {
				outs[i] = make(chan string, 1)
				go func() { outs[i] <- h.outcome(t) }()
			}
			res := [2]string{<-outs[0], <-outs[1]}
			winner, loser := 0, 1
			if res[0] != "" {
				winner, loser = 1, 0
			}
			if res[winner] != "" || res[loser] == "" {
				t.Fatalf("%s: want exactly one interposer, got %q and %q", what, res[0], res[1])
			}
			who := fmt.Sprintf("pid %d ", hs[winner].cmd.Process.Pid)
			if p[winner] == ctxContainer {
				who = "from a container"
			}
			if !strings.Contains(res[loser], "another pktlife is interposing tail calls") || !strings.Contains(res[loser], who) || !strings.Contains(res[loser], "since ") {
				t.Errorf("%s: the second one said %q; want it to name the first (%s, since when, where)", what, res[loser], who)
			}
			if code := hs[loser].cmd.ProcessState.ExitCode(); code != 2 {
				t.Errorf("%s: the second one exited %d, want 2", what, code)
			}
			k.same(t, what+", while the first interposes")
			hs[winner].cmd.Process.Signal(syscall.SIGTERM)
			if last, err := hs[winner].finish(); err != nil || !strings.Contains(last, "err=<nil>") {
				t.Fatalf("%s: the interposer's exit: %v, said %q", what, err, last)
			}
			k.check(t, ctxHost, what)
		}
	}
}

// TestTailCallsStoppedReader stops an interposing pktlife's reader
// (SIGSTOP) while packets flow: the datapath is untouched, the rings
// overflow and the loss is counted, and after SIGCONT and SIGTERM every
// slot is restored.
func TestTailCallsStoppedReader(t *testing.T) {
	k := newKillEnv(t)
	s := k.spec(ctxHost)
	s.ring = 16 << 10
	h := launch(t, s)
	h.waitReady(t)
	if err := h.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		k.same(t, fmt.Sprintf("round %d with the reader stopped", i))
	}
	h.cmd.Process.Signal(syscall.SIGCONT)
	h.cmd.Process.Signal(syscall.SIGTERM)
	last, err := h.finish()
	if err != nil {
		t.Fatalf("helper: %v, said %q\n%s", err, last, h.stderr)
	}
	var lost, events uint64
	if _, err := fmt.Sscanf(last, "helper-closed lost=%d events=%d", &lost, &events); err != nil || lost == 0 {
		t.Errorf("helper said %q: want lost events counted (%v)", last, err)
	}
	t.Logf("stopped reader: %d events read, %d lost and counted", events, lost)
	k.check(t, ctxHost, "after a stopped reader")
}

// TestTailCallsRefusedWithoutDurableState: where pins could only live in a
// private mount namespace (unshare -m or ip netns exec with a state
// directory on no bpffs of the node, a container given no bpffs), pktlife
// refuses to interpose, in one line, before changing anything.
func TestTailCallsRefusedWithoutDurableState(t *testing.T) {
	k := newKillEnv(t)
	plain, err := os.MkdirTemp("/run", "pktlife-test-plain-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(plain) })
	state := filepath.Join(plain, "state")
	for _, s := range []helperSpec{k.spec(ctxUnshare), k.spec(ctxIPNetns), k.spec(ctxContainer)} {
		if s.ctx == ctxContainer {
			s.bpffs = ""
		} else {
			s.state = state
		}
		msg := k.refused(t, s, k.bpffs)
		t.Logf("%s: %s", s.ctx, msg)
		if !strings.Contains(msg, "no bpffs that outlives pktlife") {
			t.Errorf("%s: refused with %q; want it to say the pins would not outlive pktlife", s.ctx, msg)
		}
		if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: created %s on the node (%v)", s.ctx, state, err)
		}
	}
}

// TestTailCallsReadOnlyBPFFS: a state directory on a read-only bpffs is
// refused in one line before any slot changes.
func TestTailCallsReadOnlyBPFFS(t *testing.T) {
	k := newKillEnv(t)
	ro := mountBPFFS(t, unix.MS_RDONLY)
	for _, dir := range []string{ro, filepath.Join(ro, "pktlife")} {
		s := k.spec(ctxHost)
		s.state = dir
		msg := k.refused(t, s, ro)
		t.Logf("%s: %s", dir, msg)
		if !strings.Contains(msg, "read-only file system") {
			t.Errorf("state in %s: refused with %q; want it to name the read-only bpffs", dir, msg)
		}
	}
}

// TestTailCallsJournalRefused: a journal the kernel will not allocate is
// refused before the first swap. (The journal is one pinned map, allocated
// whole before any slot changes; the test asks for one too large to have.)
func TestTailCallsJournalRefused(t *testing.T) {
	k := newKillEnv(t)
	s := k.spec(ctxHost)
	s.journal = 1 << 31
	msg := k.refused(t, s, k.bpffs)
	t.Log(msg)
	if !strings.Contains(msg, "reserve journal for "+strconv.Itoa(1<<31)+" slots") {
		t.Errorf("refused with %q; want the journal named", msg)
	}
}

// TestTailCallsCleanupLeavesReplacedSlot: after a SIGKILL, a slot the
// datapath's owner rewrote is left as the owner set it, and cleanup says
// so; the other slots are restored.
func TestTailCallsCleanupLeavesReplacedSlot(t *testing.T) {
	k := newKillEnv(t)
	h := launch(t, k.spec(ctxHost))
	h.waitReady(t)
	h.cmd.Process.Kill()
	h.finish()
	o := &k.chain.Objects
	alt := uint32(demodp.ChainJumpSlotCHAIN_A_ALT)
	if err := o.ChainJmpA.Put(alt, o.ChainStageTwoFinalize); err != nil {
		t.Fatalf("replace slot: %v", err)
	}
	s := k.spec(ctxUnshare)
	s.cleanup = true
	notes := strings.Join(runCleanup(t, s), "\n")
	if !strings.Contains(notes, fmt.Sprintf("[%s/%d] was replaced by its owner", demodp.ChainMapChainJmpA, alt)) || !strings.Contains(notes, "restored 3 tail-call slot(s)") {
		t.Errorf("cleanup said:\n%s\nwant 3 restored and the replaced slot reported", notes)
	}
	got := slots(t, o.ChainJmpA, o.ChainJmpB)
	want := [][]uint32{append([]uint32(nil), k.slots[0]...), k.slots[1]}
	want[0][alt] = k.slots[0][demodp.ChainJumpSlotCHAIN_A_FINAL]
	if !equalSlots(got, want) {
		t.Errorf("after cleanup %v, want %v", got, want)
	}
	if left := pinsIn(k.bpffs); len(left) > 0 {
		t.Errorf("left in the node's bpffs: %v", left)
	}
	if err := o.ChainJmpA.Put(alt, o.ChainAltRewriter); err != nil { // as designed, for the env's checks
		t.Fatal(err)
	}
}

// TestTailCallsForeignShimRefused: a pktlife keeping its state elsewhere
// meets the first one's shims in the slots and refuses to shim them.
func TestTailCallsForeignShimRefused(t *testing.T) {
	k := newKillEnv(t)
	first := launch(t, k.spec(ctxHost))
	first.waitReady(t)
	interposed := slots(t, k.chain.Objects.ChainJmpA, k.chain.Objects.ChainJmpB)
	other := mountBPFFS(t, 0)
	s := k.spec(ctxUnshare)
	s.state = filepath.Join(other, "pktlife")
	h := launch(t, s)
	line := h.outcome(t)
	t.Log(line)
	if !strings.Contains(line, "another pktlife is interposing tail calls") || !strings.Contains(line, "holds another pktlife's shim") {
		t.Errorf("second pktlife with other state said %q; want it to refuse the first one's shims", line)
	}
	if got := slots(t, k.chain.Objects.ChainJmpA, k.chain.Objects.ChainJmpB); !equalSlots(got, interposed) {
		t.Errorf("the refused start changed the slots: %v, before %v", got, interposed)
	}
	if left := pinsIn(other); len(left) > 0 {
		t.Errorf("the refused start left %v", left)
	}
	first.cmd.Process.Signal(syscall.SIGTERM)
	first.finish()
	k.check(t, ctxHost, "after the first one's exit")
}
