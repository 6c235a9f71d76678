package main

import (
	"fmt"
	"strings"

	"github.com/pktlife/pktlife/internal/bench"
)

// datapathFigures are the medians of one run's datapath cases.
type datapathFigures struct {
	res     map[bench.Case]bench.CaseResult
	ratio   map[bench.Case]float64 // received rate vs untraced; absent when not run
	base    float64                // untraced received pkt/s
	baseCPU float64                // untraced pkt/cpu-s
}

func newDatapathFigures(res []bench.CaseResult) datapathFigures {
	d := datapathFigures{res: map[bench.Case]bench.CaseResult{}, ratio: map[bench.Case]float64{}}
	for _, cr := range res {
		d.res[cr.Case] = cr
		if cr.Case == bench.Untraced && cr.Err == nil {
			d.base, d.baseCPU = cr.Median(), cr.MedianPerCPU()
		}
	}
	for _, cr := range res {
		if cr.Err == nil && d.base > 0 {
			d.ratio[cr.Case] = cr.Median() / d.base
		}
	}
	return d
}

// tcpdumpFor is the tcpdump case with the same filter as a pktlife case.
func tcpdumpFor(c bench.Case) (bench.Case, bool) {
	switch c {
	case bench.NoMatch, bench.LeanNoMatch:
		return bench.TcpdumpNoMatch, true
	case bench.MatchAll, bench.Interpose, bench.MatchCapped:
		return bench.TcpdumpMatch, true
	}
	return "", false
}

// targets judges a case's ratio against each of its targets.
func (r *report) targets(d datapathFigures, c bench.Case) string {
	v, ok := d.ratio[c]
	if !ok {
		return ""
	}
	at := func(want float64, what string) string {
		return fmt.Sprintf("≥ %.3f %s", want, r.verdict(v >= want, fmt.Sprintf("datapath %s: %.3f < %.3f", what, v, want)))
	}
	var t []string
	switch c {
	case bench.NoMatch:
		t = append(t, at(targetNoMatch, "no-match"))
		if f, ok := d.ratio[bench.HooksOnly]; ok {
			t = append(t, "floor−0.03 "+at(f-targetOverFloor, "no-match vs hooks-only floor"))
		}
	case bench.MatchAll:
		t = append(t, at(targetMatch, "match"))
	case bench.Interpose:
		t = append(t, at(targetInterpose, "interpose"))
	case bench.MatchCapped:
		if n, ok := d.ratio[bench.NoMatch]; ok {
			t = append(t, fmt.Sprintf("no-match−%.2f ", maxRateTolerance)+at(n-maxRateTolerance, "--max-rate vs no-match"))
		}
	case bench.LeanNoMatch:
		t = append(t, at(targetLeanNoMatch, "lean no-match"))
		if f, ok := d.ratio[bench.LeanHooksOnly]; ok {
			t = append(t, "floor−0.03 "+at(f-targetOverFloor, "lean no-match vs lean hooks-only floor"))
		}
	case bench.HooksOnly, bench.LeanHooksOnly:
		t = append(t, "(floor)")
	case bench.Untraced:
		t = append(t, "(baseline)")
	default:
		t = append(t, "(reference)")
	}
	return strings.Join(t, "; ")
}

func (r *report) datapath(res []bench.CaseResult, c config) {
	r.line("1. Datapath overhead: UDP flood pod A → node (demo datapath: DNAT, tail calls, redirect) → pod B,")
	r.line("   %d senders, %v per flood, %d rounds with the case order rotated, median", c.senders, c.duration, c.rounds)
	d := newDatapathFigures(res)
	var notes []string
	rows := [][]string{{"case", "received pkt/s", "sent pkt/s", "vs untraced", "tcpdump", "pkt/cpu-s", "vs untraced",
		"events|captures", "lost|dropped", "target"}}
	for _, cr := range res {
		if cr.Err != nil {
			rows = append(rows, []string{string(cr.Case), "-", "-", "-", "", "", "", "", "",
				r.verdict(false, "datapath "+string(cr.Case)+" not run")})
			notes = append(notes, fmt.Sprintf("  %s not run: %v", cr.Case, cr.Err))
			continue
		}
		td := ""
		if tc, ok := tcpdumpFor(cr.Case); ok {
			if v, ok := d.ratio[tc]; ok {
				td = fmt.Sprintf("%.3f", v)
			}
		}
		var sent []float64
		for _, f := range cr.Floods {
			sent = append(sent, f.SendRate())
		}
		var read, lost uint64
		for _, s := range cr.Stats {
			read, lost = read+s.Events, lost+s.Lost
		}
		for _, s := range cr.Captures {
			read, lost = read+s.Received-s.Dropped, lost+s.Dropped
		}
		rows = append(rows, []string{string(cr.Case), fmt.Sprintf("%.0f", cr.Median()), fmt.Sprintf("%.0f", bench.Median(sent)),
			fmt.Sprintf("%.3f", d.ratio[cr.Case]), td, fmt.Sprintf("%.0f", cr.MedianPerCPU()),
			fmt.Sprintf("%.3f", cr.MedianPerCPU()/d.baseCPU), fmt.Sprint(read), fmt.Sprint(lost), r.targets(d, cr.Case)})
	}
	r.table(rows)
	for _, n := range notes {
		r.line("%s", n)
	}
	r.versusTcpdump(d, c)
	r.line("  %s: every hop attached, each observer returning at once: what the hooks alone cost (the floor)", bench.HooksOnly)
	r.line("  lean: --hops lean (tc-ingress, tc-egress, sock_send, sock_deliver, kfree_skb)")
	r.line("  %s: the match case, following at most %d new packets/s (--max-rate); the rest are", bench.MatchCapped, c.maxRate)
	r.line("  counted as skipped, not shown; target: skipping a packet costs no more than not matching it,")
	r.line("  within %.2f of the no-match ratio (the run-to-run noise of a median)", maxRateTolerance)
	r.line("  tcpdump: %s -i any -n -w /dev/null FILTER, one per namespace of the topology (every device of the", bench.TcpdumpPath)
	r.line("  three namespaces, as pktlife's tc hops), started before the flood (its \"listening on\"), SIGINT after;")
	r.line("  no-match filter \"udp dst port 9\" as pktlife's; match: the flood to the VIP before DNAT or to pod B")
	r.line("  after it, so that each device's copy matches; captures: copies its filter accepted into its ring,")
	r.line("  dropped: accepted but the ring was full")
	r.line("  pkt/cpu-s: packets per second of CPU time spent on the flood (this process, ksoftirqd and, for")
	r.line("  tcpdump, not its own process): a cross-check that moves less than the rate on a shared machine")
	r.line("")
}

// versusTcpdump prints pktlife's figures beside tcpdump's on the same
// filters.
func (r *report) versusTcpdump(d datapathFigures, c config) {
	f := func(cs bench.Case) string {
		if v, ok := d.ratio[cs]; ok {
			return fmt.Sprintf("%.3f", v)
		}
		return "not run"
	}
	r.line("  pktlife beside tcpdump, received rate vs untraced:")
	r.line("    no-match: pktlife %s (lean %s), tcpdump %s; hooks-only floor %s (lean %s)",
		f(bench.NoMatch), f(bench.LeanNoMatch), f(bench.TcpdumpNoMatch), f(bench.HooksOnly), f(bench.LeanHooksOnly))
	extra := ""
	if m := d.res[bench.TcpdumpMatch]; m.Err == nil && len(m.Captures) > 0 {
		var capt, drop, sent uint64
		for i, s := range m.Captures {
			capt, drop = capt+s.Received-s.Dropped, drop+s.Dropped
			if i < len(m.Floods) {
				sent += m.Floods[i].Sent
			}
		}
		extra = fmt.Sprintf(" (its filter accepted %.2f copies per packet sent, %.1f%% of them dropped: ring full)",
			float64(capt+drop)/float64(max(sent, 1)), 100*float64(drop)/float64(max(capt+drop, 1)))
	}
	r.line("    match:    pktlife %s (--max-rate %d: %s, interpose %s), tcpdump %s%s",
		f(bench.MatchAll), c.maxRate, f(bench.MatchCapped), f(bench.Interpose), f(bench.TcpdumpMatch), extra)
}
