package trace

import (
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/trace/journey"
)

// cEnum reads an enum of bpf/pktlife.h from the BTF of the compiled object.
func cEnum(t *testing.T, name string) map[string]uint64 {
	t.Helper()
	spec, err := bpf.LoadPktlife()
	if err != nil {
		t.Fatal(err)
	}
	var e *btf.Enum
	if err := spec.Types.TypeByName(name, &e); err != nil {
		t.Fatalf("find enum %s in the object's BTF: %v", name, err)
	}
	out := map[string]uint64{}
	for _, v := range e.Values {
		out[v.Name] = v.Value
	}
	return out
}

// TestHooksMatchC fails when enum pl_hook in bpf/pktlife.h and
// journey.Hook disagree: a hook added, removed or renumbered on one side.
// journey.Hook cannot use bpf2go's constants itself: the journey model is
// also built into programs that load no BPF (the kubectl plugin).
func TestHooksMatchC(t *testing.T) {
	pairs := map[string]struct {
		gen bpf.PktlifePlHook
		go_ journey.Hook
	}{
		"PL_HOOK_UNSPEC":             {bpf.PktlifePlHookPL_HOOK_UNSPEC, journey.HookUnspec},
		"PL_HOOK_TC_INGRESS":         {bpf.PktlifePlHookPL_HOOK_TC_INGRESS, journey.HookTCIngress},
		"PL_HOOK_TC_EGRESS":          {bpf.PktlifePlHookPL_HOOK_TC_EGRESS, journey.HookTCEgress},
		"PL_HOOK_NETIF_RX":           {bpf.PktlifePlHookPL_HOOK_NETIF_RX, journey.HookNetifRx},
		"PL_HOOK_NETIF_RECEIVE_SKB":  {bpf.PktlifePlHookPL_HOOK_NETIF_RECEIVE_SKB, journey.HookNetifReceiveSkb},
		"PL_HOOK_NET_DEV_QUEUE":      {bpf.PktlifePlHookPL_HOOK_NET_DEV_QUEUE, journey.HookNetDevQueue},
		"PL_HOOK_NET_DEV_START_XMIT": {bpf.PktlifePlHookPL_HOOK_NET_DEV_START_XMIT, journey.HookNetDevStartXmit},
		"PL_HOOK_NET_DEV_XMIT":       {bpf.PktlifePlHookPL_HOOK_NET_DEV_XMIT, journey.HookNetDevXmit},
		"PL_HOOK_KFREE_SKB":          {bpf.PktlifePlHookPL_HOOK_KFREE_SKB, journey.HookKfreeSkb},
		"PL_HOOK_CONSUME_SKB":        {bpf.PktlifePlHookPL_HOOK_CONSUME_SKB, journey.HookConsumeSkb},
		"PL_HOOK_SOCK_DELIVER":       {bpf.PktlifePlHookPL_HOOK_SOCK_DELIVER, journey.HookSockDeliver},
		"PL_HOOK_TAIL_CALL":          {bpf.PktlifePlHookPL_HOOK_TAIL_CALL, journey.HookTailCall},
		"PL_HOOK_PROG_ENTRY":         {bpf.PktlifePlHookPL_HOOK_PROG_ENTRY, journey.HookProgEntry},
		"PL_HOOK_PROG_EXIT":          {bpf.PktlifePlHookPL_HOOK_PROG_EXIT, journey.HookProgExit},
		"PL_HOOK_KFUNC":              {bpf.PktlifePlHookPL_HOOK_KFUNC, journey.HookKfunc},
		"PL_HOOK_KFUNC_RET":          {bpf.PktlifePlHookPL_HOOK_KFUNC_RET, journey.HookKfuncRet},
		"PL_HOOK_SOCK_SEND":          {bpf.PktlifePlHookPL_HOOK_SOCK_SEND, journey.HookSockSend},
	}
	c := cEnum(t, "pl_hook")
	for name, v := range c {
		if name == "PL_HOOK_MAX" {
			if len(pairs) != int(v) {
				t.Errorf("C has %d hooks, Go %d", v, len(pairs))
			}
			continue
		}
		p, ok := pairs[name]
		if !ok {
			t.Errorf("C's %s = %d has no journey.Hook", name, v)
			continue
		}
		if uint64(p.gen) != v || uint64(p.go_) != v {
			t.Errorf("%s: C %d, bpf2go %d, journey.Hook %d", name, v, p.gen, p.go_)
		}
		// a hook's name round-trips, so JSON can carry every one of them
		if h, err := journey.ParseHook(p.go_.String()); err != nil || h != p.go_ {
			t.Errorf("%s: name %q does not parse back: %v", name, p.go_, err)
		}
	}
	for name := range pairs {
		if _, ok := c[name]; !ok {
			t.Errorf("journey's %s is not in C's enum pl_hook", name)
		}
	}
}

// TestFlagsMatchC does the same for enum pl_flags and journey's Flag*.
func TestFlagsMatchC(t *testing.T) {
	pairs := map[string]struct {
		gen bpf.PktlifePlFlags
		go_ uint8
	}{
		"PL_F_TUPLE":   {bpf.PktlifePlFlagsPL_F_TUPLE, journey.FlagTuple},
		"PL_F_TRACKED": {bpf.PktlifePlFlagsPL_F_TRACKED, journey.FlagTracked},
		"PL_F_L4":      {bpf.PktlifePlFlagsPL_F_L4, journey.FlagL4},
	}
	c := cEnum(t, "pl_flags")
	if len(c) != len(pairs) {
		t.Errorf("C has %d flags, Go %d", len(c), len(pairs))
	}
	for name, p := range pairs {
		if v, ok := c[name]; !ok || uint64(p.gen) != v || uint64(p.go_) != v {
			t.Errorf("%s: C %d (present %v), bpf2go %d, journey %d", name, v, ok, p.gen, p.go_)
		}
	}
}

// TestCatalog checks the hop catalog: names and kernel-function ids are
// unique, ids do not collide with the hooks' own, and each hop's hook is
// one the C side emits for its kind.
func TestCatalog(t *testing.T) {
	names := map[string]bool{}
	ids := map[uint32]string{}
	for _, h := range Hops() {
		if names[h.Name] {
			t.Errorf("hop %s listed twice", h.Name)
		}
		names[h.Name] = true
		switch h.Kind {
		case KindKfunc:
			if h.Hook != journey.HookKfunc || h.kfunc.id == 0 || len(h.kfunc.funcs) == 0 || h.kfunc.arg < 1 {
				t.Errorf("kernel-function hop %s: hook %s, id %d, funcs %v, arg %d", h.Name, h.Hook, h.kfunc.id, h.kfunc.funcs, h.kfunc.arg)
			}
			if other, ok := ids[h.kfunc.id]; ok {
				t.Errorf("hops %s and %s share id %d", other, h.Name, h.kfunc.id)
			}
			ids[h.kfunc.id] = h.Name
		case KindTracepoint:
			if h.tpProg == "" || h.rawProg == "" || h.tracepoint == "" {
				t.Errorf("tracepoint hop %s lacks its programs", h.Name)
			}
		case KindTC:
			if !h.Hook.IsTC() {
				t.Errorf("tc hop %s has hook %s", h.Name, h.Hook)
			}
		case KindSocket:
			if h.Hook != journey.HookSockDeliver && h.Hook != journey.HookSockSend {
				t.Errorf("socket hop %s has hook %s", h.Name, h.Hook)
			}
		default:
			t.Errorf("hop %s has unknown kind %q", h.Name, h.Kind)
		}
	}
	// Hops hands out copies: changing one leaves the catalog alone.
	hs := Hops()
	hs[0].Name = "changed"
	if Hops()[0].Name == "changed" {
		t.Error("Hops returns the catalog itself")
	}
}
