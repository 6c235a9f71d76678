package journey

// dropNotSpecified is SKB_DROP_REASON_NOT_SPECIFIED, stable since the
// enum was introduced (0 = NOT_DROPPED_YET, 1 = CONSUMED).
const dropNotSpecified = 2

// dropFate sets the journey's drop reason, from its kfree_skb hops, and
// its fate.
type dropFate struct{}

func (dropFate) Annotate(j *Journey) {
	delivered := false
	for i := range j.Hops {
		h := &j.Hops[i]
		switch h.Hook {
		case HookSockDeliver:
			delivered = true
		case HookKfreeSkb:
			// After delivery to a socket an unspecified free is the socket
			// letting go of it (TCP frees pure ACKs this way), not a drop:
			// the hop shows a plain free.
			if delivered && h.reason <= dropNotSpecified {
				h.DropReason = ""
				continue
			}
			j.DropReason = h.DropReason
		}
	}
	j.Fate = fate(j, delivered)
}

// fate decides how a closed journey ended.
func fate(j *Journey, delivered bool) Fate {
	if j.DropReason != "" || (!delivered && hasHook(j, HookKfreeSkb)) {
		return FateDropped
	}
	if delivered {
		return FateDelivered
	}
	freed := false
	for i := len(j.Hops) - 1; i >= 0; i-- {
		switch j.Hops[i].Hook {
		case HookConsumeSkb:
			freed = true
			continue
		case HookNetDevXmit, HookNetDevStartXmit:
			return FateTransmitted
		}
		break
	}
	if freed {
		return FateConsumed
	}
	return FateUnknown
}

func hasHook(j *Journey, h Hook) bool {
	for i := range j.Hops {
		if j.Hops[i].Hook == h {
			return true
		}
	}
	return false
}
