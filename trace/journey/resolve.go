package journey

import "time"

// Resolver gives names to the numbers in events. The tracer implements it
// against the running kernel; tests use a Static table.
type Resolver interface {
	// Device names a device by namespace inode and ifindex.
	Device(netns, ifindex uint32) Device
	// Progs lists the programs a tc hook runs after pktlife's observer.
	Progs(netns, ifindex uint32, h Hook) []Prog
	// Prog names a BPF program.
	Prog(id uint32) Prog
	// Map names a BPF map.
	Map(id uint32) string
	// DropReason names a kfree_skb reason (enum skb_drop_reason).
	DropReason(reason uint32) string
	// Kfunc names a kernel-function hop by its id.
	Kfunc(id uint32) string
	// WallTime converts a kernel monotonic time to wall-clock time.
	WallTime(mono uint64) time.Time
}

// Static is a Resolver backed by tables, for recorded streams and tests.
// Its JSON form is the "names" part of a recorded stream.
type Static struct {
	Devices     []Device          `json:"devices,omitempty"`
	Programs    []Prog            `json:"programs,omitempty"`
	Maps        map[uint32]string `json:"maps,omitempty"`
	HookProgs   []HookProgs       `json:"hook_progs,omitempty"`
	DropReasons map[uint32]string `json:"drop_reasons,omitempty"`
	Kfuncs      map[uint32]string `json:"kfuncs,omitempty"`
	// BootWall is the wall-clock time at kernel monotonic time zero.
	BootWall time.Time `json:"boot_wall"`
}

// HookProgs lists the programs at one tc hook.
type HookProgs struct {
	Netns   uint32 `json:"netns"`
	Ifindex uint32 `json:"ifindex"`
	Hook    Hook   `json:"hook"`
	Progs   []Prog `json:"progs"`
}

var _ Resolver = (*Static)(nil)

func (s *Static) Device(netns, ifindex uint32) Device {
	for _, d := range s.Devices {
		if d.Netns == netns && d.Ifindex == ifindex {
			return d
		}
	}
	return Device{Netns: netns, Ifindex: ifindex}
}

func (s *Static) Progs(netns, ifindex uint32, h Hook) []Prog {
	for _, hp := range s.HookProgs {
		if hp.Netns == netns && hp.Ifindex == ifindex && hp.Hook == h {
			return hp.Progs
		}
	}
	return nil
}

func (s *Static) Prog(id uint32) Prog {
	for _, p := range s.Programs {
		if p.ID == id {
			return p
		}
	}
	return Prog{ID: id}
}

func (s *Static) Map(id uint32) string { return s.Maps[id] }

func (s *Static) DropReason(r uint32) string { return s.DropReasons[r] }

func (s *Static) Kfunc(id uint32) string { return s.Kfuncs[id] }

func (s *Static) WallTime(mono uint64) time.Time {
	if s.BootWall.IsZero() {
		return time.Time{}
	}
	return s.BootWall.Add(time.Duration(mono))
}
