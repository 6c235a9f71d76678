package demo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/pktlife/pktlife/bpf/demodp"
)

// Slots of the demo_calls prog_array.
const (
	SlotNAT    = uint32(demodp.DemoSlotDEMO_SLOT_NAT)     // demo_nat
	SlotPolicy = uint32(demodp.DemoSlotDEMO_SLOT_POLICY)  // demo_policy
	SlotRevNAT = uint32(demodp.DemoSlotDEMO_SLOT_REV_NAT) // demo_rev_nat
)

// DatapathOptions configures LoadDatapath.
type DatapathOptions struct {
	// Legacy attaches with a clsact qdisc and direct-action cls_bpf filters
	// instead of tcx.
	Legacy bool
	// Priority of the legacy filters; 0 means DefaultPriority.
	Priority uint16
	// Configure, when set, adjusts the settings derived from the topology
	// before the programs load. Tests break the datapath with it: a deny
	// port equal to BackendPort makes the policy drop service traffic, a
	// service port nobody uses turns the DNAT off.
	Configure func(*demodp.DemoSvcConfig)
}

// Datapath is the demo datapath loaded and attached to a topology:
// demo_from_pod at ingress of pod A's node-side veth, demo_from_backend at
// ingress of pod B's.
type Datapath struct {
	// Objects are the loaded programs and maps, e.g. Objects.DemoCalls (the
	// prog_array) and Objects.DemoNat. Tests may change slots; FillCalls
	// restores them.
	Objects demodp.DemoObjects
	// Legacy is true when attached with clsact + cls_bpf.
	Legacy bool

	attached []attachment
	closed   bool
}

// Config returns the datapath settings for a topology, as LoadDatapath sets
// them.
func Config(topo *Topology) demodp.DemoSvcConfig {
	client := topo.PodA.Addr.Masked()
	return demodp.DemoSvcConfig{
		SvcAddr:        be32(topo.Service.Addr()),
		BackendAddr:    be32(topo.PodB.IP()),
		ClientNet:      be32(client.Addr()),
		ClientMask:     be32(maskAddr(client.Bits())),
		SvcPort:        topo.Service.Port(),
		BackendPort:    BackendPort,
		DenyPort:       DenyPort,
		ClientIfindex:  uint32(topo.PodA.NodeIfindex),
		BackendIfindex: uint32(topo.PodB.NodeIfindex),
	}
}

// be32 returns an IPv4 address as the uint32 whose memory holds it in
// network byte order, as the C side's __be32.
func be32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

func maskAddr(bits int) netip.Addr {
	var b [4]byte
	for i := 0; i < bits; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// LoadDatapath loads the demo datapath with topo's addresses, fills
// demo_calls and attaches the entry programs to the node-side veths. With
// tcx the programs are appended to each device's chain; in legacy mode they
// are filters at opts.Priority. Close detaches them.
func LoadDatapath(topo *Topology, opts DatapathOptions) (dp *Datapath, err error) {
	spec, err := demodp.LoadDemo()
	if err != nil {
		return nil, fmt.Errorf("load demo spec: %w", err)
	}
	cfg := Config(topo)
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	if err := spec.Variables[demodp.DemoVarCfg].Set(cfg); err != nil {
		return nil, fmt.Errorf("set demo config: %w", err)
	}
	dp = &Datapath{Legacy: opts.Legacy}
	if err := spec.LoadAndAssign(&dp.Objects, nil); err != nil {
		return nil, fmt.Errorf("load demo datapath: %w", verifierDetail(err))
	}
	defer func() {
		if err != nil {
			dp.Close()
		}
	}()
	if err := dp.FillCalls(); err != nil {
		return nil, err
	}
	for _, a := range []struct {
		pod  Pod
		prog *ebpf.Program
		name string
	}{
		{topo.PodA, dp.Objects.DemoFromPod, demodp.DemoProgDemoFromPod},
		{topo.PodB, dp.Objects.DemoFromBackend, demodp.DemoProgDemoFromBackend},
	} {
		h := hook{netnsPath: topo.Node.Path, ifindex: a.pod.NodeIfindex, legacy: opts.Legacy, priority: opts.Priority}
		at, err := attach(h, a.prog, a.name)
		if err != nil {
			return nil, err
		}
		dp.attached = append(dp.attached, at)
	}
	return dp, nil
}

// FillCalls puts the datapath's programs into every demo_calls slot.
func (d *Datapath) FillCalls() error {
	for slot, prog := range map[uint32]*ebpf.Program{
		SlotNAT:    d.Objects.DemoNat,
		SlotPolicy: d.Objects.DemoPolicy,
		SlotRevNAT: d.Objects.DemoRevNat,
	} {
		if err := d.Objects.DemoCalls.Put(slot, prog); err != nil {
			return fmt.Errorf("fill demo_calls slot %d: %w", slot, err)
		}
	}
	return nil
}

// Counter returns one of the datapath's counters, summed over CPUs.
func (d *Datapath) Counter(s demodp.DemoStat) (uint64, error) {
	return sumPerCPU(d.Objects.DemoStats, uint32(s))
}

// Close detaches the programs in reverse order and unloads the objects. It
// is safe to call more than once.
func (d *Datapath) Close() error {
	if d == nil || d.closed {
		return nil
	}
	d.closed = true
	err := detachAll(d.attached)
	d.attached = nil
	if cerr := d.Objects.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close demo objects: %w", cerr))
	}
	return err
}

func sumPerCPU(m *ebpf.Map, key uint32) (uint64, error) {
	var vals []uint64
	if err := m.Lookup(key, &vals); err != nil {
		return 0, fmt.Errorf("look up counter %d: %w", key, err)
	}
	var sum uint64
	for _, v := range vals {
		sum += v
	}
	return sum, nil
}

// verifierDetail adds the verifier's full log to a load error.
func verifierDetail(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("%+v: %w", ve, err)
	}
	return err
}
