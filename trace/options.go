package trace

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
)

// Options configure a Tracer.
type Options struct {
	Filter Filter
	// Netns lists the namespaces whose devices get tc observers: paths, or
	// names under /run/netns. Empty means the current namespace. When set,
	// packets must also first be seen in one of them to match (namespaces
	// may reuse the same addresses).
	Netns []string
	// Ifaces are globs selecting the devices that get tc observers. Empty
	// means every device but loopback. When set, packets must first be seen
	// on one of them to match.
	Ifaces []string
	// NetnsLabels name, in journeys, the network namespaces that hold
	// these addresses (the kubectl plugin names pods' namespaces
	// "namespace/pod"). Other namespaces keep their /run/netns name, "host"
	// or "pid:N(comm)".
	NetnsLabels map[netip.Addr]string
	// Hops names the hops to attach (see Hops) or presets of them (see
	// Presets: default, lean, all); empty means the default set.
	Hops []string
	// LegacyTC attaches tc observers with clsact+cls_bpf even where tcx works.
	LegacyTC bool
	// KfuncBackend forces the backend of kernel-function hops: MechFentry
	// or MechKprobe; empty picks the best that works.
	KfuncBackend string
	// TailCalls says how tail calls are traced: TailCallsAuto (""),
	// TailCallsInterpose, TailCallsPassive or TailCallsOff.
	TailCalls string

	// MaxRate bounds how many new packets per second are followed, over
	// all CPUs (each CPU gets its share, with up to 100 ms of credit);
	// packets over it are counted in Stats.Skipped and never reported. It
	// bounds what tracing a flood costs the node. 0 = no limit.
	MaxRate int

	// Snaplen, when positive, has every hop that reads the packet capture
	// its first Snaplen bytes (at most MaxSnaplen) from the network header
	// into Hop.Packet, for --pcap. 0 captures nothing: events keep their
	// size and the capture code is removed by the verifier.
	Snaplen int

	// HooksOnly attaches every hop with observers that return at once:
	// nothing is parsed or reported. It measures what the hooks alone cost
	// the datapath (internal/bench).
	HooksOnly bool

	// RingSize is the ring buffer bytes over all online CPUs; each CPU's
	// ring is its share rounded down to a power of two, and at least
	// min(RingSize, 256 KiB). 0 = 8 MiB.
	RingSize    int
	MaxTracked  int           // skbs followed at once in the kernel; 0 = 65536
	TrackIdle   time.Duration // a tracked skb silent this long is forgotten; 0 = 1 s
	Idle        time.Duration // journey idle timeout; 0 = 2 s
	MaxInFlight int           // journeys open at once; 0 = 65536
	// StateDir is where tail-call interposition keeps its lock, owner
	// record, restore journal and shadow pins: a directory in a bpffs, as
	// a path in the node's mount namespace (reached from any other mount
	// namespace pktlife runs in), created there if missing. Empty means
	// shimstate.DefaultDir in the node's bpffs, or shimstate.FallbackDir,
	// a bpffs pktlife mounts, where the node has none. A tool that
	// interposes only on datapaths it owns (the demo) may use its own, so
	// it never waits for or disturbs another pktlife.
	StateDir string

	// matchDevices and matchNetns are derived from Ifaces and Netns.
	matchDevices bool
	matchNetns   bool
	// noFastParse keeps the observers on the helper path of parsing even
	// where the kernel has the kfuncs of the fast one (tests comparing them).
	noFastParse bool
	// ignoreTailCallBudget skips the interposer's budget check (tests only).
	ignoreTailCallBudget bool
	// journalSlots asks for a journal of this many slots instead of one per
	// slot to shim (tests of a journal the kernel refuses only).
	journalSlots int
}

// ErrBadOption wraps errors in Options (an unknown hop, a bad glob).
var ErrBadOption = errors.New("bad option")

// validate checks what can be checked before anything is opened.
func (o *Options) validate() error {
	if err := o.Filter.Validate(); err != nil {
		return err
	}
	if o.MaxRate < 0 {
		return fmt.Errorf("invalid max rate %d: want packets per second, 0 for no limit", o.MaxRate)
	}
	if o.Snaplen < 0 || o.Snaplen > MaxSnaplen {
		return fmt.Errorf("invalid snap length %d: want 1 to %d bytes, 0 for no capture", o.Snaplen, MaxSnaplen)
	}
	return checkTailCallMode(o.TailCalls)
}

func setDefaults(o *Options) {
	if o.RingSize == 0 {
		o.RingSize = 8 << 20
	}
	if o.MaxTracked == 0 {
		o.MaxTracked = 65536
	}
	if o.TrackIdle == 0 {
		o.TrackIdle = time.Second
	}
	if o.Idle == 0 {
		o.Idle = 2 * time.Second
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 65536
	}
	if o.TailCalls == "" {
		o.TailCalls = TailCallsAuto
	}
}

type device struct {
	ns   *nsHandle
	link netlink.Link
}

// ErrNoDevice is returned when an interface glob matches nothing.
var ErrNoDevice = errors.New("no such interface")

// selectDevices lists the devices matching the globs in each namespace;
// no globs select every device but loopback.
func selectDevices(nss []*nsHandle, globs []string) ([]device, error) {
	var out []device
	matched := make([]bool, len(globs))
	for _, ns := range nss {
		links, err := ns.nl.LinkList()
		if err != nil {
			return nil, fmt.Errorf("list devices in %s: %w", ns.name, err)
		}
		for _, l := range links {
			name := l.Attrs().Name
			if len(globs) == 0 {
				if l.Attrs().Flags&net.FlagLoopback == 0 {
					out = append(out, device{ns, l})
				}
				continue
			}
			for i, g := range globs {
				if ok, _ := filepath.Match(g, name); ok {
					matched[i] = true
					out = append(out, device{ns, l})
					break
				}
			}
		}
	}
	for i, g := range globs {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("parse interface glob %q: %w: %w", g, ErrBadOption, err)
		}
		if !matched[i] {
			return nil, fmt.Errorf("select interface %q: %w", g, ErrNoDevice)
		}
	}
	return out, nil
}
