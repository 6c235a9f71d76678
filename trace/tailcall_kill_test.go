package trace_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/trace"
)

// TestTailCallsSIGKILL kills an interposing pktlife: the datapath keeps
// working through the shims and their pinned shadows, a second pktlife
// refuses to interpose while the first lives, and both `pktlife cleanup`
// and the next interposing start restore the original programs.
func TestTailCallsSIGKILL(t *testing.T) {
	for _, recovery := range []string{"cleanup", "next start"} {
		t.Run(recovery, func(t *testing.T) {
			e := newChainEnv(t, false)
			o := &e.chain.Objects
			before := slots(t, o.ChainJmpA, o.ChainJmpB)
			base, baseC := e.round(t)
			dir := stateDir(t)

			cmd, interposed := startHelper(t, helperSpec{netns: e.netns(), state: dir})
			if len(interposed) != 4 {
				t.Fatalf("helper interposed %d slots, want 4: %+v", len(interposed), interposed)
			}
			during := slots(t, o.ChainJmpA, o.ChainJmpB)
			for _, s := range interposed {
				row := 0
				if s.Map == "chain_jmp_b" {
					row = 1
				}
				if during[row][s.Slot] != s.ShimID {
					t.Errorf("[%s/%d] holds %d, want the helper's shim %d", s.Map, s.Slot, during[row][s.Slot], s.ShimID)
				}
			}

			// Two pktlife processes never fight over the slots.
			opts := trace.Options{Netns: e.netns(), TailCalls: trace.TailCallsInterpose}
			trace.SetStateDirForTest(&opts, dir)
			if tr, err := trace.New(opts); err == nil {
				tr.Close()
				t.Fatal("a second interposing tracer started while the helper runs")
			} else if !errors.Is(err, trace.ErrInterposeBusy) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
				t.Errorf("second tracer: %v; want %v naming pid %d", err, trace.ErrInterposeBusy, cmd.Process.Pid)
			}
			if !equalSlots(slots(t, o.ChainJmpA, o.ChainJmpB), during) {
				t.Error("the refused tracer changed the slots")
			}

			if err := cmd.Process.Kill(); err != nil {
				t.Fatalf("kill helper: %v", err)
			}
			cmd.Wait()
			if !equalSlots(slots(t, o.ChainJmpA, o.ChainJmpB), during) {
				t.Fatal("slots changed when the helper died")
			}
			killed, killedC := e.round(t)
			compareChain(t, "through the dead helper's shims", killed, base, killedC, baseC)
			checkJournalPins(t, dir, 2)

			switch recovery {
			case "cleanup":
				notes, err := trace.CleanupStateDir(dir)
				if err != nil {
					t.Fatalf("cleanup: %v", err)
				}
				if len(notes) == 0 || !strings.Contains(notes[0], "restored 4 tail-call slot(s)") {
					t.Errorf("cleanup said %q", notes)
				}
			case "next start":
				tr := newInterposer(t, dir, trace.Options{Netns: e.netns()})
				notes := strings.Join(tr.Notices(), "\n")
				if !strings.Contains(notes, fmt.Sprintf("restored 4 tail-call slot(s) left interposed by pktlife pid %d", cmd.Process.Pid)) {
					t.Errorf("start did not report the restore:\n%s", notes)
				}
				if len(tr.Interposed()) != 4 {
					t.Errorf("restarted tracer interposed %d slots, want 4", len(tr.Interposed()))
				}
				if err := tr.Close(); err != nil {
					t.Fatalf("close tracer: %v", err)
				}
			}
			if after := slots(t, o.ChainJmpA, o.ChainJmpB); !equalSlots(after, before) {
				t.Errorf("prog_arrays after recovery %v, before %v", after, before)
			}
			checkNoLeftovers(t, dir)
			after, afterC := e.round(t)
			compareChain(t, "after recovery", after, base, afterC, baseC)
		})
	}
}

// checkJournalPins checks that the state directory holds the journal and
// n pinned shadows.
func checkJournalPins(t *testing.T, dir string, n int) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "journal")); err != nil {
		t.Errorf("no journal after SIGKILL: %v", err)
	}
	shadows, _ := filepath.Glob(filepath.Join(dir, "shadow_*"))
	if len(shadows) != n {
		t.Errorf("%d shadows pinned (%v), want %d", len(shadows), shadows, n)
	}
}
