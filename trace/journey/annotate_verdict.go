package journey

import (
	"strconv"
	"strings"
)

// verdictByDrop infers a tc hop's verdict from a drop: a packet freed with
// a tc drop reason (TC_INGRESS, TC_EGRESS, …) was shot by the last tc hop
// before the free on the same device, even with kernel-function hops in
// between. An observed verdict (fexit) is kept.
type verdictByDrop struct{}

func (verdictByDrop) Annotate(j *Journey) {
	for i := range j.Hops {
		d := &j.Hops[i]
		if d.Hook != HookKfreeSkb || !strings.HasPrefix(d.DropReason, "TC_") {
			continue
		}
		for k := i - 1; k >= 0; k-- {
			tc := &j.Hops[k]
			if !tc.Hook.IsTC() {
				continue
			}
			if tc.Verdict == "" && tc.Device.Ifindex == d.Device.Ifindex && tc.Device.Netns == d.Device.Netns {
				tc.Verdict, tc.VerdictInferred = "TC_ACT_SHOT", true
			}
			break
		}
	}
}

// VerdictName names a tc program's return value.
func VerdictName(v int32) string {
	switch v {
	case -1:
		return "TC_ACT_UNSPEC"
	case 0:
		return "TC_ACT_OK"
	case 1:
		return "TC_ACT_RECLASSIFY"
	case 2:
		return "TC_ACT_SHOT"
	case 3:
		return "TC_ACT_PIPE"
	case 4:
		return "TC_ACT_STOLEN"
	case 5:
		return "TC_ACT_QUEUED"
	case 6:
		return "TC_ACT_REPEAT"
	case 7:
		return "TC_ACT_REDIRECT"
	case 8:
		return "TC_ACT_TRAP"
	}
	return "TC_ACT_" + strconv.Itoa(int(v))
}
