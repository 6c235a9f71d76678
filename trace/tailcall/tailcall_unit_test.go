package tailcall

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/trace/journey"
	"github.com/pktlife/pktlife/trace/progs"
)

// chainGraph is one entry program with a chain of n tail calls, the last
// one back to the entry when loop is set.
func chainGraph(n int, loop bool) *progs.Graph {
	leaf := &progs.Node{ID: uint32(n + 1), Name: fmt.Sprint("p", n)}
	if loop {
		leaf.Maps = []progs.ProgArray{{ID: 1, Name: "calls", Slots: []progs.Slot{{Index: 0, Prog: &progs.Node{ID: 1, Ref: true}}}}}
	}
	node := leaf
	for i := n - 1; i >= 0; i-- {
		node = &progs.Node{ID: uint32(i + 1), Name: fmt.Sprint("p", i), Maps: []progs.ProgArray{{
			ID: 1, Name: "calls", Slots: []progs.Slot{{Index: uint32(i + 1), Prog: node}, {Index: 99, Empty: true}},
		}}}
	}
	return &progs.Graph{Devices: []progs.DeviceProgs{{Name: "eth0", Ingress: []progs.Entry{{Via: progs.ViaTCX, Prog: *node}}}}}
}

func TestCheckBudget(t *testing.T) {
	for _, tc := range []struct {
		n    int
		loop bool
		want string // "" when accepted
	}{
		{0, false, ""},
		{16, false, ""},
		{17, false, "the chain from p0 at eth0 ingress makes up to 17 tail calls, 34 with a shim before each"},
		{2, true, "the chain from p0 at eth0 ingress can loop"},
	} {
		err := checkBudget(chainGraph(tc.n, tc.loop))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("depth %d: refused: %v", tc.n, err)
		case tc.want != "" && (!errors.Is(err, ErrTailCallBudget) || !strings.Contains(fmt.Sprint(err), tc.want)):
			t.Errorf("depth %d loop %v: %v, want %q", tc.n, tc.loop, err, tc.want)
		}
	}
	missed := emptyCalls(chainGraph(2, false))
	if len(missed) != 2 || len(missed[1]) != 1 || missed[1][0].Slot != 99 || !missed[1][0].Missed || !missed[1][0].Inferred {
		t.Errorf("empty calls %+v, want slot 99 of programs 1 and 2", missed)
	}
}

func TestInferTailCalls(t *testing.T) {
	miss := func(slot uint32) journey.TailCall {
		return journey.TailCall{Map: "calls", MapID: 1, Slot: slot, Missed: true, Inferred: true}
	}
	ip := &Interposer{missed: map[uint32][]journey.TailCall{
		10: {miss(3)}, // the entry program: a constant call to empty slot 3
		20: {miss(1)}, // a tail-called program: empty slot 1
	}}
	entry, second := journey.Prog{ID: 10, Name: "entry"}, journey.Prog{ID: 20, Name: "second"}
	jumped := journey.TailCall{At: 5, Map: "calls", MapID: 1, Slot: 0, Prog: second}
	j := &journey.Journey{Hops: []journey.Hop{
		{Hook: journey.HookTCIngress, At: 1, Progs: []journey.Prog{entry}},                                        // no jump seen
		{Hook: journey.HookTCIngress, At: 2, Progs: []journey.Prog{entry}, TailCalls: []journey.TailCall{jumped}}, // jumped to second
		{Hook: journey.HookNetifRx, At: 3, Progs: []journey.Prog{entry}},                                          // not a tc hop
		{Hook: journey.HookTCEgress, At: 4},                                                                       // no program
	}}
	ip.Annotate(j)
	want0 := miss(3)
	want0.At = 1
	if !slices.Equal(j.Hops[0].TailCalls, []journey.TailCall{want0}) {
		t.Errorf("hop without jumps: %+v, want the entry's empty slot", j.Hops[0].TailCalls)
	}
	want1 := miss(1)
	want1.At = 5
	if !slices.Equal(j.Hops[1].TailCalls, []journey.TailCall{jumped, want1}) {
		t.Errorf("hop with a jump: %+v, want the jump and the target's empty slot", j.Hops[1].TailCalls)
	}
	if len(j.Hops[2].TailCalls)+len(j.Hops[3].TailCalls) != 0 {
		t.Errorf("inferred on hops without a tc program: %+v %+v", j.Hops[2].TailCalls, j.Hops[3].TailCalls)
	}
	(&Interposer{}).Annotate(j) // no empty slot known: nothing to do
}
