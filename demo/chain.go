package demo

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf/demodp"
)

// UDP destination ports that choose a path through the chain datapath.
const (
	ChainPortFull     = uint16(demodp.ChainPortCHAIN_PORT_FULL)      // three levels
	ChainPortShortcut = uint16(demodp.ChainPortCHAIN_PORT_SHORTCUT)  // straight to the shared program
	ChainPortMiss     = uint16(demodp.ChainPortCHAIN_PORT_MISS)      // empty slot in chain_jmp_a
	ChainPortDeepMiss = uint16(demodp.ChainPortCHAIN_PORT_DEEP_MISS) // empty slot in chain_jmp_b
	ChainPortAlt      = uint16(demodp.ChainPortCHAIN_PORT_ALT)       // the alternative second level
)

// Bits the chain's programs OR into skb->mark.
const (
	ChainMarkBase    = uint32(demodp.ChainMarkBitCHAIN_MARK_BASE) // on every packet the chain classifies
	ChainMarkEntry   = uint32(demodp.ChainMarkBitCHAIN_MARK_ENTRY)
	ChainMarkInspect = uint32(demodp.ChainMarkBitCHAIN_MARK_INSPECT)
	ChainMarkFinal   = uint32(demodp.ChainMarkBitCHAIN_MARK_FINAL)
	ChainMarkAlt     = uint32(demodp.ChainMarkBitCHAIN_MARK_ALT)
	ChainMarkMissA   = uint32(demodp.ChainMarkBitCHAIN_MARK_MISS_A) // a tail call into chain_jmp_a missed
	ChainMarkMissB   = uint32(demodp.ChainMarkBitCHAIN_MARK_MISS_B) // a tail call into chain_jmp_b missed
)

// ChainStep is one tail call on a chain path: the prog_array and slot it
// looks up and the program it reaches, "" when the slot is empty and the
// caller goes on.
type ChainStep struct {
	Map     string
	Slot    uint32
	Program string
}

// ChainPath is what the chain datapath, as LoadChain fills it, does with a
// UDP packet to Port.
type ChainPath struct {
	Port  uint16
	Entry string      // the attached program
	Steps []ChainStep // tail calls, in order
	Mark  uint32      // skb->mark when the packet leaves the chain
}

// ChainPaths lists every designed path, one per port.
func ChainPaths() []ChainPath {
	const (
		a, b   = demodp.ChainMapChainJmpA, demodp.ChainMapChainJmpB
		entry  = demodp.ChainProgChainEntryClassifier
		one    = demodp.ChainProgChainStageOneInspect
		alt    = demodp.ChainProgChainAltRewriter
		final  = demodp.ChainProgChainStageTwoFinalize
		aIns   = uint32(demodp.ChainJumpSlotCHAIN_A_INSPECT)
		aAlt   = uint32(demodp.ChainJumpSlotCHAIN_A_ALT)
		aFinal = uint32(demodp.ChainJumpSlotCHAIN_A_FINAL)
		aEmpty = uint32(demodp.ChainJumpSlotCHAIN_A_EMPTY)
		bFinal = uint32(demodp.ChainJumpSlotCHAIN_B_FINAL)
		bEmpty = uint32(demodp.ChainJumpSlotCHAIN_B_EMPTY)
	)
	base := ChainMarkBase | ChainMarkEntry
	return []ChainPath{
		{ChainPortFull, entry, []ChainStep{{a, aIns, one}, {b, bFinal, final}}, base | ChainMarkInspect | ChainMarkFinal},
		{ChainPortShortcut, entry, []ChainStep{{a, aFinal, final}}, base | ChainMarkFinal},
		{ChainPortMiss, entry, []ChainStep{{a, aEmpty, ""}}, base | ChainMarkMissA},
		{ChainPortDeepMiss, entry, []ChainStep{{a, aIns, one}, {b, bEmpty, ""}}, base | ChainMarkInspect | ChainMarkMissB},
		{ChainPortAlt, entry, []ChainStep{{a, aAlt, alt}, {b, bFinal, final}}, base | ChainMarkAlt | ChainMarkFinal},
	}
}

// ChainOptions says where LoadChain attaches the chain's entry program.
// Packets to the chain's ports leave it with TC_ACT_OK, which ends a tcx
// chain and a clsact filter list: nothing attached after it on the same hook
// runs for them. Every other packet gets TC_ACT_UNSPEC and goes on. In
// legacy mode, two datapaths on the same hook need different priorities.
type ChainOptions struct {
	NetnsPath string // namespace of the device, e.g. Topology.Node.Path
	Ifindex   int    // device index in that namespace
	Egress    bool   // attach at egress instead of ingress
	Legacy    bool   // clsact + cls_bpf instead of tcx
	Priority  uint16 // legacy filter priority; 0 means DefaultPriority
}

// Chain is the tail-call chain datapath, loaded and attached.
type Chain struct {
	// Objects are the loaded programs and maps (ChainJmpA, ChainJmpB,
	// ChainResults, ChainStats). FillSlots restores the designed slots.
	Objects demodp.ChainObjects

	attached []attachment
	closed   bool
}

// LoadChain loads the chain datapath, fills its prog_arrays (leaving the
// empty slots empty) and attaches chain_entry_classifier where opts says.
func LoadChain(opts ChainOptions) (c *Chain, err error) {
	c = &Chain{}
	if err := demodp.LoadChainObjects(&c.Objects, nil); err != nil {
		return nil, fmt.Errorf("load chain datapath: %w", verifierDetail(err))
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := c.FillSlots(); err != nil {
		return nil, err
	}
	h := hook{netnsPath: opts.NetnsPath, ifindex: opts.Ifindex, egress: opts.Egress, legacy: opts.Legacy, priority: opts.Priority}
	at, err := attach(h, c.Objects.ChainEntryClassifier, demodp.ChainProgChainEntryClassifier)
	if err != nil {
		return nil, err
	}
	c.attached = append(c.attached, at)
	return c, nil
}

// FillSlots sets both prog_arrays as designed: chain_stage_two_finalize in
// two slots of two maps, and the empty slots deleted.
func (c *Chain) FillSlots() error {
	o := &c.Objects
	for _, s := range []struct {
		m    *ebpf.Map
		slot demodp.ChainJumpSlot
		prog *ebpf.Program
	}{
		{o.ChainJmpA, demodp.ChainJumpSlotCHAIN_A_INSPECT, o.ChainStageOneInspect},
		{o.ChainJmpA, demodp.ChainJumpSlotCHAIN_A_ALT, o.ChainAltRewriter},
		{o.ChainJmpA, demodp.ChainJumpSlotCHAIN_A_FINAL, o.ChainStageTwoFinalize},
		{o.ChainJmpA, demodp.ChainJumpSlotCHAIN_A_EMPTY, nil},
		{o.ChainJmpB, demodp.ChainJumpSlotCHAIN_B_FINAL, o.ChainStageTwoFinalize},
		{o.ChainJmpB, demodp.ChainJumpSlotCHAIN_B_EMPTY, nil},
	} {
		if s.prog == nil {
			if err := s.m.Delete(uint32(s.slot)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("empty slot %d: %w", s.slot, err)
			}
			continue
		}
		if err := s.m.Put(uint32(s.slot), s.prog); err != nil {
			return fmt.Errorf("fill slot %d: %w", s.slot, err)
		}
	}
	return nil
}

// Result returns the mark the last packet to port left the chain with, and
// how many packets to that port finished; ok is false when none did.
func (c *Chain) Result(port uint16) (res demodp.ChainResult, ok bool, err error) {
	err = c.Objects.ChainResults.Lookup(port, &res)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return res, false, nil
	}
	if err != nil {
		return res, false, fmt.Errorf("look up chain result %d: %w", port, err)
	}
	return res, true, nil
}

// Counter returns one of the chain's counters, summed over CPUs.
func (c *Chain) Counter(s demodp.ChainCounter) (uint64, error) {
	return sumPerCPU(c.Objects.ChainStats, uint32(s))
}

// Close detaches the entry program and unloads the objects. It is safe to
// call more than once.
func (c *Chain) Close() error {
	if c == nil || c.closed {
		return nil
	}
	c.closed = true
	err := detachAll(c.attached)
	c.attached = nil
	if cerr := c.Objects.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close chain objects: %w", cerr))
	}
	return err
}
