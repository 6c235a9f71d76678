package trace

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/pktlife/pktlife/bpf"
)

// objects are pktlife's loaded maps and the spec its programs come from.
// Programs are loaded one by one, so that a hop this kernel lacks fails
// alone instead of failing the whole collection.
type objects struct {
	spec  *ebpf.CollectionSpec
	maps  bpf.PktlifeMaps
	rings []*ebpf.Map // one ring buffer per CPU, held in maps.Rings
	repl  map[string]*ebpf.Map
	// btfCache keeps the kernel's BTF decoded once for all program loads
	// (each load would decode it again).
	btfCache *btf.Cache
}

// loadObjects prepares the spec with the filter and sizes and creates the
// shared maps.
func loadObjects(f *Filter, o *Options) (_ *objects, err error) {
	spec, err := bpf.LoadPktlife()
	if err != nil {
		return nil, fmt.Errorf("load BPF spec: %w", err)
	}
	var specs bpf.PktlifeSpecs
	if err := spec.Assign(&specs); err != nil {
		return nil, fmt.Errorf("assign BPF spec: %w", err)
	}
	k := f.kernel()
	if o.matchDevices {
		k.MatchDev = 1
	}
	if o.matchNetns {
		k.MatchNetns = 1
	}
	if err := specs.Cfg.Set(k); err != nil {
		return nil, fmt.Errorf("set filter: %w", err)
	}
	if o.TrackIdle > 0 {
		if err := specs.TrackIdleNs.Set(uint64(o.TrackIdle)); err != nil {
			return nil, fmt.Errorf("set track idle: %w", err)
		}
		// in jiffies at HZ 1000: at a lower HZ, longer (see skip_idle_jiffies)
		if err := specs.SkipIdleJiffies.Set(max(uint64(o.TrackIdle/time.Millisecond), 1)); err != nil {
			return nil, fmt.Errorf("set track idle: %w", err)
		}
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("count CPUs: %w", err)
	}
	online := onlineCPUs(ncpu)
	perRing := ringSize(o.RingSize, len(online))
	// Each CPU wakes the reader at every eighth of its ring; the reader
	// polls besides (read).
	if err := specs.WakeEvents.Set(uint64(max(perRing/8/(EventSize+8), 1))); err != nil {
		return nil, fmt.Errorf("set wakeup threshold: %w", err)
	}
	if o.HooksOnly {
		if err := specs.HooksOnly.Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("set hooks only: %w", err)
		}
	}
	if o.MaxRate > 0 {
		// Each online CPU admits its share: one packet per
		// len(online)/MaxRate seconds.
		interval := uint64(len(online)) * uint64(time.Second) / uint64(o.MaxRate)
		if err := specs.RateIntervalNs.Set(max(interval, 1)); err != nil {
			return nil, fmt.Errorf("set rate limit: %w", err)
		}
	}
	specs.Rings.MaxEntries = uint32(ncpu)
	specs.Rings.InnerMap.MaxEntries = uint32(perRing)
	specs.Tracked.MaxEntries = uint32(o.MaxTracked)

	obj := &objects{spec: spec, btfCache: btf.NewCache()}
	if err := spec.LoadAndAssign(&obj.maps, nil); err != nil {
		return nil, fmt.Errorf("create BPF maps: %w", err)
	}
	// Rings for the CPUs online now: a cloud VM may have many more possible
	// ones. A CPU brought online later has none, and its events are lost,
	// counted as such.
	for _, cpu := range online {
		m, err := ebpf.NewMap(specs.Rings.InnerMap)
		if err == nil {
			obj.rings = append(obj.rings, m)
			err = obj.maps.Rings.Put(uint32(cpu), m)
		}
		if err != nil {
			obj.Close()
			return nil, fmt.Errorf("create ring buffer of CPU %d: %w", cpu, err)
		}
	}
	obj.repl = map[string]*ebpf.Map{
		bpf.PktlifeMapRings:        obj.maps.Rings,
		bpf.PktlifeMapTracked:      obj.maps.Tracked,
		bpf.PktlifeMapStats:        obj.maps.Stats,
		bpf.PktlifeMapTrackedCount: obj.maps.TrackedCount,
		bpf.PktlifeMapMatchDevs:    obj.maps.MatchDevs,
	}
	return obj, nil
}

// loadProgram loads one program of the spec against the shared maps.
func (o *objects) loadProgram(name string) (*ebpf.Program, error) {
	return o.loadProgramAs(name, ebpf.AttachNone)
}

// loadProgramAs loads a program with another attach type than its section
// gives (a kprobe as kprobe.multi, say); AttachNone keeps the section's.
func (o *objects) loadProgramAs(name string, at ebpf.AttachType) (*ebpf.Program, error) {
	ps, ok := o.spec.Programs[name]
	if !ok {
		return nil, fmt.Errorf("load program %s: not in the object", name)
	}
	if at != ebpf.AttachNone {
		ps = ps.Copy()
		ps.AttachType = at
	}
	one := o.spec.Copy()
	one.Programs = map[string]*ebpf.ProgramSpec{name: ps}
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: o.repl, Cache: o.btfCache})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load program %s: %+v", name, ve)
		}
		return nil, fmt.Errorf("load program %s: %w", name, err)
	}
	defer coll.Close()
	return coll.DetachProgram(name), nil
}

// Close releases the maps.
func (o *objects) Close() error {
	errs := []error{o.maps.Close()}
	for _, m := range o.rings {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}
