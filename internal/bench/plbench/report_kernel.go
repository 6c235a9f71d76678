package main

import (
	"fmt"
	"time"

	"github.com/pktlife/pktlife/internal/bench"
)

func (r *report) kernel(floor bench.ProgRun, costs []bench.KernelCost, fo bench.FloodOptions) {
	rate := "unpaced"
	if fo.Rate > 0 {
		rate = fmt.Sprintf("%d pkt/s", fo.Rate)
	}
	r.line("2. In-kernel cost per activation: BPF run-time statistics (BPF_ENABLE_STATS, on only here), flood %s for %v", rate, fo.Duration)
	fl := floor.PerRun()
	r.line("  floor: an empty tp_btf program on %s measures %v per run: the statistics' own clock reads;", "netif_receive_skb", ns(fl))
	r.line("  \"net\" subtracts it")
	var match *bench.KernelCost
	var noMatchNet, matchNet time.Duration = -1, -1
	for i, k := range costs {
		if k.Case == bench.MatchAll {
			match = &costs[i]
		}
		t := k.Total()
		perPkt := 0.0
		if k.Flood.Sent > 0 {
			perPkt = float64(t.Runs) / float64(k.Flood.Sent)
		}
		r.line("")
		r.line("  case %s: %d packets, %.1f activations/packet, emitted %d, lost %d", k.Case, k.Flood.Sent, perPkt,
			k.Counters.Emitted, k.Counters.Lost)
		rows := [][]string{{"program", "runs", "ns/run", "net ns/run"}}
		for _, p := range k.Progs {
			if p.Runs == 0 {
				continue
			}
			rows = append(rows, []string{p.Name, fmt.Sprint(p.Runs), ns(p.PerRun()), ns(p.PerRun() - fl)})
		}
		rows = append(rows, []string{"all pktlife", fmt.Sprint(t.Runs), ns(t.PerRun()), ns(t.PerRun() - fl)})
		r.table(rows)
		switch k.Case {
		case bench.NoMatch:
			net := t.PerRun() - fl
			r.line("  per activation for packets that do not match: %v net (%.1f× the floor) — target ≤ %d ns: %s",
				ns(net), float64(t.PerRun())/float64(fl), targetNoMatchNs, r.verdict(net <= targetNoMatchNs, "kernel no-match ns"))
			r.line("  per packet (all activations): %v net", ns(time.Duration(perPkt*float64(net))))
			noMatchNet = net
		case bench.MatchCapped:
			r.skipped(k, fl, matchNet, noMatchNet)
		default:
			n := k.Counters.Emitted + k.Counters.Lost
			if n == 0 {
				r.line("  no events: %s", r.verdict(false, "kernel "+string(k.Case)+" emitted nothing"))
				continue
			}
			total := t.Runtime - time.Duration(t.Runs)*fl
			if k.Case == bench.Interpose && match != nil {
				// The shims run as tail calls: their time shows in the
				// datapath's entry program, over what it takes without them.
				shim, perShim := shimCost(*match, k)
				total += shim
				r.line("  tail-call shims: %v each (the datapath entry's time over the match case's, per extra event)", ns(perShim))
			}
			net := total / time.Duration(n)
			if k.Case == bench.MatchAll {
				matchNet = net
			}
			r.line("  per hop event (all programs' time / events written or lost): %v net — target ≤ %d ns: %s",
				ns(net), targetHopNs, r.verdict(net <= targetHopNs, "kernel "+string(k.Case)+" ns/event"))
		}
	}
	r.line("")
}

// skipped estimates what an activation costs for a packet --max-rate
// skips: the capped case's net time less its events at the match case's
// net cost per event, over the activations that wrote no event.
func (r *report) skipped(k bench.KernelCost, floor, perEvent, noMatch time.Duration) {
	t := k.Total()
	events := k.Counters.Emitted + k.Counters.Lost
	if perEvent < 0 || noMatch < 0 || t.Runs <= events {
		r.line("  skipped packets: %s", r.verdict(false, "kernel --max-rate skip cost: no match or no-match case to compare with"))
		return
	}
	net := t.Runtime - time.Duration(t.Runs)*floor - time.Duration(events)*perEvent
	skip := net / time.Duration(t.Runs-events)
	r.line("  per activation for packets --max-rate skips: %v net (the case's time less %d events at %v each,", ns(skip), events, ns(perEvent))
	r.line("  over the %d activations without one) — target ≤ no-match's %v + %d ns: %s", t.Runs-events, ns(noMatch),
		skippedNsTolerance, r.verdict(skip <= noMatch+skippedNsTolerance, "kernel --max-rate skip ns/activation"))
}

// shimCost is the time the shims added to the datapath's entry program in
// the interpose case i, over the match case m, in total and per shim run
// (one event each).
func shimCost(m, i bench.KernelCost) (total, each time.Duration) {
	dm, ok1 := m.Prog(bench.DatapathEntry)
	di, ok2 := i.Prog(bench.DatapathEntry)
	if !ok1 || !ok2 || di.Runs == 0 || m.Flood.Sent == 0 || i.Flood.Sent == 0 {
		return 0, 0
	}
	extra := di.PerRun() - dm.PerRun()
	total = extra * time.Duration(di.Runs)
	perPkt := func(k bench.KernelCost) float64 {
		return float64(k.Counters.Emitted+k.Counters.Lost) / float64(k.Flood.Sent)
	}
	shims := (perPkt(i) - perPkt(m)) * float64(i.Flood.Sent)
	if shims <= 0 {
		return total, 0
	}
	return total, time.Duration(float64(total) / shims)
}

func ns(d time.Duration) string { return fmt.Sprintf("%dns", d.Nanoseconds()) }

func (r *report) loss(l bench.LossResult) {
	r.line("4. Loss accounting: match-everything tracer, %d-byte ring, unpaced flood for %v", l.RingSize, l.Flood.Elapsed.Round(time.Millisecond))
	r.line("  sent %d packets (%.0f/s), %.2f events/packet (calibrated at 2000 pkt/s with an 8 MiB ring)",
		l.Flood.Sent, l.Flood.SendRate(), l.HopsPerPacket)
	r.line("  kernel emitted %d, lost %d (%.1f%%); reader read %d", l.Kernel.Emitted, l.Kernel.Lost,
		100*float64(l.Kernel.Lost)/float64(max(l.Attempts(), 1)), l.Read)
	r.line("  read / emitted = %.4f (must be 1): %s", float64(l.Read)/float64(max(l.Kernel.Emitted, 1)),
		r.verdict(l.Drained && l.Read == l.Kernel.Emitted, "loss: read != emitted"))
	dev := (float64(l.Attempts()) - l.Expected()) / l.Expected()
	r.line("  (emitted + lost) / (sent × events/packet) = %.4f (within ±%.0f%%): %s", 1+dev, 100*targetLossTolerance,
		r.verdict(dev <= targetLossTolerance && dev >= -targetLossTolerance, "loss: attempts vs sent × hops"))
	r.line("  the difference: packets the overloaded node dropped on the way make fewer hops, and how UDP frees")
	r.line("  a delivered skb (consume_skb or not) shifts with the rate")
	r.line("")
}

func (r *report) summary() error {
	r.line("targets met: %d of %d", r.met, r.total)
	for _, m := range r.misses {
		r.line("  missed: %s", m)
	}
	return nil
}
