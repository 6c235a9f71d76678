package trace

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"

	"github.com/pktlife/pktlife/bpf"
)

// errNoKernelBTF is returned where the kernel has no BTF: pktlife's
// programs are CO-RE and its tracepoint programs are BTF-typed.
var errNoKernelBTF = errors.New("kernel BTF not found")

// objects are pktlife's loaded maps and the spec its programs come from.
// Programs are loaded one by one, so that a hop this kernel lacks fails
// alone instead of failing the whole collection.
type objects struct {
	spec  *ebpf.CollectionSpec
	maps  bpf.PktlifeMaps
	rings []*ebpf.Map // one ring buffer per CPU, held in maps.Rings
	repl  map[string]*ebpf.Map
	// btf keeps the kernel's and modules' BTF decoded once, for every
	// program load (each would decode it again), kernel-function lookups
	// and drop-reason names.
	btf *btf.Cache
	// feat is what the kernel has of the facilities pktlife adapts to.
	feat kernelFeatures
	// slowParse counts programs loaded on the helper path of parsing
	// after the kernel refused their fast one (see load).
	slowParse atomic.Int32
	// stage flushes the per-CPU staging buffers; nil without staging.
	stage *stager
	// btfMu is held by every load and every lookup in the kernel's BTF:
	// hops attach concurrently (backendSet.attach), but the kernel spec
	// that btf.Cache shares decodes its types lazily, and concurrent
	// lookups in it crashed pktlife ("concurrent map writes" in
	// btf.(*decoder).inflateType, cilium/ebpf v0.22, on Debian's 7.2).
	// Loads, the verifier's time included, run one at a time; attaching
	// (the kernel's waits for RCU grace periods) still overlaps.
	btfMu sync.Mutex
}

// loadObjects prepares the spec with the filter and sizes and creates the
// shared maps.
func loadObjects(o *Options) (_ *objects, err error) {
	cache := btf.NewCache()
	if _, err := cache.Kernel(); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoKernelBTF, err)
	}
	spec, err := bpf.LoadPktlife()
	if err != nil {
		return nil, fmt.Errorf("load BPF spec: %w", err)
	}
	var specs bpf.PktlifeSpecs
	if err := spec.Assign(&specs); err != nil {
		return nil, fmt.Errorf("assign BPF spec: %w", err)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("count CPUs: %w", err)
	}
	online := onlineCPUs(ncpu)
	perRing := ringSize(o.RingSize, len(online))
	if err := configure(&specs, o, len(online), perRing); err != nil {
		return nil, err
	}
	feat := probeFeatures(cache)
	feat.fastParse = feat.fastParse && !o.noFastParse
	if err := feat.set(&specs); err != nil {
		return nil, err
	}
	specs.Rings.MaxEntries = uint32(ncpu)
	specs.Rings.InnerMap.MaxEntries = uint32(perRing)
	specs.Tracked.MaxEntries = uint32(o.MaxTracked)
	if o.MaxRate == 0 {
		specs.Skipped.MaxEntries = 1 // unused: no packet is skipped
	}

	obj := &objects{spec: spec, btf: cache, feat: feat}
	if err := spec.LoadAndAssign(&obj.maps, nil); err != nil {
		return nil, fmt.Errorf("create BPF maps: %w", err)
	}
	if err := obj.createRings(specs.Rings.InnerMap, online); err != nil {
		obj.Close()
		return nil, err
	}
	obj.repl = map[string]*ebpf.Map{
		bpf.PktlifeMapRings:      obj.maps.Rings,
		bpf.PktlifeMapTracked:    obj.maps.Tracked,
		bpf.PktlifeMapLive:       obj.maps.Live,
		bpf.PktlifeMapStats:      obj.maps.Stats,
		bpf.PktlifeMapTrackState: obj.maps.TrackState,
		bpf.PktlifeMapMatchDevs:  obj.maps.MatchDevs,
		// one rate limit and one memory of skipped packets for all
		// programs, not one per program
		bpf.PktlifeMapRateTat: obj.maps.RateTat,
		bpf.PktlifeMapSkipped: obj.maps.Skipped,
		bpf.PktlifeMapStaging: obj.maps.Staging,
	}
	if obj.stage, err = newStager(obj, online); err != nil {
		obj.Close()
		return nil, err
	}
	return obj, nil
}

// createRings creates the ring buffers of the CPUs online now, and puts
// them into maps.Rings: a cloud VM may have many more possible CPUs. A CPU
// brought online later has none, and its events are lost, counted as such.
func (o *objects) createRings(spec *ebpf.MapSpec, online []int) error {
	keys := make([]uint32, 0, len(online))
	fds := make([]uint32, 0, len(online))
	for _, cpu := range online {
		m, err := ebpf.NewMap(spec)
		if err != nil {
			return fmt.Errorf("create ring buffer of CPU %d: %w", cpu, err)
		}
		o.rings = append(o.rings, m)
		keys = append(keys, uint32(cpu))
		fds = append(fds, uint32(m.FD()))
	}
	// The kernel waits for an RCU grace period after each update of a map
	// of maps (~10 ms on 6.18), and at most once for a batch: one batch
	// where the kernel takes it for an array of maps, else one by one.
	if _, err := o.maps.Rings.BatchUpdate(keys, fds, nil); err == nil {
		return nil
	}
	for i, m := range o.rings {
		if err := o.maps.Rings.Put(keys[i], m); err != nil {
			return fmt.Errorf("add ring buffer of CPU %d: %w", keys[i], err)
		}
	}
	return nil
}

// configure writes the options into the spec's constants, through bpf2go's
// typed fields.
func configure(specs *bpf.PktlifeSpecs, o *Options, online, perRing int) error {
	k, err := o.Filter.kernel()
	if err != nil {
		return err
	}
	if o.matchDevices {
		k.MatchDev = 1
	}
	if o.matchNetns {
		k.MatchNetns = 1
	}
	if err := specs.Cfg.Set(k); err != nil {
		return fmt.Errorf("set filter: %w", err)
	}
	if o.TrackIdle > 0 {
		if err := specs.TrackIdleNs.Set(uint64(o.TrackIdle)); err != nil {
			return fmt.Errorf("set track idle: %w", err)
		}
		// in jiffies at HZ 1000: at a lower HZ, longer (see skip_idle_jiffies)
		if err := specs.SkipIdleJiffies.Set(max(uint64(o.TrackIdle/time.Millisecond), 1)); err != nil {
			return fmt.Errorf("set track idle: %w", err)
		}
	}
	if err := configureCapture(specs, o, perRing); err != nil {
		return err
	}
	if o.HooksOnly {
		if err := specs.HooksOnly.Set(uint8(1)); err != nil {
			return fmt.Errorf("set hooks only: %w", err)
		}
	}
	if o.MaxRate > 0 {
		// Each online CPU admits its share: one packet per
		// len(online)/MaxRate seconds.
		interval := uint64(online) * uint64(time.Second) / uint64(o.MaxRate)
		if err := specs.RateIntervalNs.Set(max(interval, 1)); err != nil {
			return fmt.Errorf("set rate limit: %w", err)
		}
	}
	return nil
}

// configureCapture sets the snap length and the reader's wakeup threshold,
// which counts the larger records that capture makes.
func configureCapture(specs *bpf.PktlifeSpecs, o *Options, perRing int) error {
	// Each CPU wakes the reader at every eighth of its ring; the reader
	// polls besides (read).
	record := EventSize + 8 // and the ring's header
	if o.Snaplen > 0 {
		record += captureSize
	}
	if err := specs.WakeEvents.Set(uint64(max(perRing/8/record, 1))); err != nil {
		return fmt.Errorf("set wakeup threshold: %w", err)
	}
	if o.Snaplen > 0 {
		if err := specs.Snaplen.Set(uint32(o.Snaplen)); err != nil {
			return fmt.Errorf("set snap length: %w", err)
		}
	}
	return nil
}

// progLoad says how to load one program of the spec; the zero value loads
// it as its section says.
type progLoad struct {
	attachType ebpf.AttachType  // AttachNone keeps the section's
	progType   ebpf.ProgramType // UnspecifiedProgram keeps the section's
	attachTo   string           // fentry/fexit: the function
	target     *ebpf.Program    // fentry/fexit on a BPF program
	// set writes the load's constants (and map sizes) into the copied
	// spec, through bpf2go's typed fields.
	set  func(*bpf.PktlifeSpecs) error
	maps map[string]*ebpf.Map // replacements besides the shared maps
}

// load loads one program of the spec against the shared maps: pktlife's
// one way of loading a program, whatever the hop kind.
func (o *objects) load(name string, pl progLoad) (*ebpf.Program, error) {
	cs := o.spec.Copy()
	var specs bpf.PktlifeSpecs
	if err := cs.Assign(&specs); err != nil {
		return nil, fmt.Errorf("load program %s: %w", name, err)
	}
	ps, ok := cs.Programs[name]
	if !ok {
		return nil, fmt.Errorf("load program %s: not in the object", name)
	}
	if pl.attachType != ebpf.AttachNone {
		ps.AttachType = pl.attachType
	}
	if pl.progType != ebpf.UnspecifiedProgram {
		ps.Type = pl.progType
	}
	if pl.attachTo != "" {
		ps.AttachTo, ps.AttachTarget = pl.attachTo, pl.target
	}
	if pl.set != nil {
		if err := pl.set(&specs); err != nil {
			return nil, fmt.Errorf("load program %s: %w", name, err)
		}
	}
	cs.Programs = map[string]*ebpf.ProgramSpec{name: ps}
	repl := o.repl
	if pl.maps != nil {
		repl = maps.Clone(o.repl)
		maps.Copy(repl, pl.maps)
	}
	opts := ebpf.CollectionOptions{MapReplacements: repl, Cache: o.btf}
	o.btfMu.Lock()
	defer o.btfMu.Unlock()
	coll, err := ebpf.NewCollectionWithOptions(cs, opts)
	if err != nil && o.feat.fastParse && specs.FastParse.Set(uint8(0)) == nil {
		// A kernel with the kfuncs may still refuse them to a program
		// type (the probe reads only their names): the helper path.
		if c, serr := ebpf.NewCollectionWithOptions(cs, opts); serr == nil {
			coll, err = c, nil
			o.slowParse.Add(1)
		}
	}
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

// attachProgram loads a program as its section says and attaches it with
// attach; it returns the program and its link, to close in reverse.
func attachProgram(o *objects, name string, attach func(*ebpf.Program) (link.Link, error)) ([]io.Closer, error) {
	return attachProgramWith(o, name, progLoad{}, attach)
}

// attachProgramWith is attachProgram with load settings.
func attachProgramWith(o *objects, name string, pl progLoad, attach func(*ebpf.Program) (link.Link, error)) ([]io.Closer, error) {
	prog, err := o.load(name, pl)
	if err != nil {
		return nil, err
	}
	lk, err := attach(prog)
	if err != nil {
		return nil, errors.Join(err, prog.Close())
	}
	return []io.Closer{prog, lk}, nil
}

// setting is one constant of a program load.
type setting struct {
	spec *ebpf.VariableSpec
	val  uint32
}

func setAll(ss ...setting) error {
	for _, s := range ss {
		if err := s.spec.Set(s.val); err != nil {
			return fmt.Errorf("set %s: %w", s.spec.Name, err)
		}
	}
	return nil
}

// arm lets packets start journeys. New arms once every hop is attached, so
// that a packet is not followed from its first hops while hops further
// along are still being attached: on a busy node, traffic flows through
// the hundreds of milliseconds that attaching takes.
func (o *objects) arm() error {
	var st uint64
	if err := o.maps.TrackState.Lookup(uint32(0), &st); err != nil {
		return fmt.Errorf("read track state: %w", err)
	}
	st |= uint64(bpf.PktlifePlStatePL_STATE_ARMED)
	if err := o.maps.TrackState.Put(uint32(0), st); err != nil {
		return fmt.Errorf("arm tracking: %w", err)
	}
	return nil
}

// Close releases the maps.
func (o *objects) Close() error {
	errs := []error{o.stage.Close(), o.maps.Close()}
	for _, m := range o.rings {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}
