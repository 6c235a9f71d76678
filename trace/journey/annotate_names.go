package journey

// names gives names to the numbers the correlator kept: devices, the
// programs at tc hooks, drop reasons, kernel functions, the maps and
// programs of observed tail calls, and the wall-clock start.
type names struct{ res Resolver }

func (n names) Annotate(j *Journey) {
	j.StartWall = n.res.WallTime(j.Start)
	for i := range j.Hops {
		h := &j.Hops[i]
		h.Device = n.res.Device(h.Device.Netns, h.Device.Ifindex)
		switch h.Hook {
		case HookTCIngress, HookTCEgress:
			h.Progs = n.res.Progs(h.Device.Netns, h.Device.Ifindex, h.Hook)
		case HookKfreeSkb:
			h.DropReason = n.res.DropReason(h.reason)
		case HookKfunc, HookKfuncRet:
			h.SetKfunc(n.res.Kfunc(h.reason))
		}
		for k := range h.TailCalls {
			tc := &h.TailCalls[k]
			if tc.Inferred {
				continue // named where it was inferred
			}
			tc.Map = n.res.Map(tc.MapID)
			tc.Prog = n.res.Prog(tc.Prog.ID)
		}
	}
}
