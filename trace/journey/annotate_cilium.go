package journey

import (
	"fmt"
	"strconv"
)

// ciliumDrops reads Cilium's drop reasons. Before Cilium drops a packet it
// stores, in the skb's cb[] words, what its drop-notification program is
// to report, and tail-calls that program (slot CILIUM_CALL_DROP_NOTIFY of
// its calls map): cb[0] the source identity, cb[1] the destination
// identity, cb[2] the reason (low byte) and extended error (next byte),
// cb[3] the destination endpoint, cb[4] the exit code (low byte), the
// source file's number (next byte) and line (upper half). The layout is
// the same in Cilium 1.14 (__send_drop_notify) and 1.18
// (tail_drop_notify). An interposed shim records those words at the jump.
//
// The reason goes on the jump, on its tc hop, and on the journey when it
// ended in a drop. The notification program returns the exit code it was
// handed, and no program follows it, so the exit code is the hop's
// verdict as the chain returns it: observed, not inferred.
type ciliumDrops struct{}

// isCiliumDropNotify recognises Cilium's drop-notification program by its
// name, per release.
func isCiliumDropNotify(name string) bool {
	return name == "__send_drop_notify" || name == "tail_drop_notify"
}

func (ciliumDrops) Annotate(j *Journey) {
	for i := range j.Hops {
		h := &j.Hops[i]
		for k := range h.TailCalls {
			tc := &h.TailCalls[k]
			if tc.Missed || !isCiliumDropNotify(tc.Prog.Name) {
				continue
			}
			d := ciliumDropFrom(tc.CB)
			tc.Reason = d.String()
			h.DropReason = d.Reason()
			h.Verdict, h.VerdictInferred = VerdictName(int32(d.ExitCode)), false
			if d.ExitCode == tcActShot && j.Fate == FateDropped {
				j.DropReason = d.Reason()
			}
		}
	}
}

const tcActShot = 2

// CiliumDrop is what Cilium hands its drop-notification program.
type CiliumDrop struct {
	Reason8  uint8 // DROP_* negated
	ExtError int8
	SrcID    uint32 // security identities
	DstID    uint32
	ExitCode uint8 // the verdict the chain returns
	File     uint8
	Line     uint16
}

func ciliumDropFrom(cb [5]uint32) CiliumDrop {
	return CiliumDrop{
		Reason8:  uint8(cb[2]),
		ExtError: int8(cb[2] >> 8),
		SrcID:    cb[0],
		DstID:    cb[1],
		ExitCode: uint8(cb[4]),
		File:     uint8(cb[4] >> 8),
		Line:     uint16(cb[4] >> 16),
	}
}

// Reason names the reason as Cilium does, with its number: "Policy denied
// (133)".
func (d CiliumDrop) Reason() string {
	name, ok := ciliumDropReasons[d.Reason8]
	if !ok {
		name = "Unknown Cilium drop reason"
	}
	return fmt.Sprintf("%s (%d)", name, d.Reason8)
}

// String is Reason with where Cilium dropped and the identities:
// "Policy denied (133) at bpf_lxc.c:1303, identity 1048575 → 2".
func (d CiliumDrop) String() string {
	file, ok := ciliumFiles[d.File]
	if !ok {
		file = "file " + strconv.Itoa(int(d.File))
	}
	s := fmt.Sprintf("%s at %s:%d, identity %d → %d", d.Reason(), file, d.Line, d.SrcID, d.DstID)
	if d.ExtError != 0 {
		s += fmt.Sprintf(", extended error %d", d.ExtError)
	}
	return s
}
