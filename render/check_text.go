package render

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/trace/journey"
)

// checkDetail is the side-by-side diff of one result without colour, for
// JUnit failure bodies.
func checkDetail(p *check.ProbeReport, res *check.Result, width int) string {
	out := writer{}
	writeResult(&out, p, res, Options{Width: width, Verbose: true})
	return string(out.b)
}

func writeResult(out *writer, p *check.ProbeReport, res *check.Result, o Options) {
	var l line
	if res.Pass {
		l.add("PASS", sGood)
	} else {
		l.add("FAIL", sBad)
	}
	l.add("  ", sPlain)
	l.add(sanitize(p.Name), sBold)
	l.add("  "+string(res.Packet)+" packet  ", sDim)
	if j := res.Journey; j != nil {
		last := j.Tuple
		if h := j.Last(); h != nil {
			last = h.Tuple
		}
		l.addTuple(j.Tuple, &last)
		l.add("  "+strconv.Itoa(len(j.Hops))+" hops · "+fmtDur(j.Duration)+" · ", sDim)
		l.add(string(j.Fate), fateStyle(j.Fate))
		if j.DropReason != "" {
			l.add(" ("+reasonName(j.DropReason)+")", sBad)
		}
	} else {
		l.add(sanitize(p.Tuple), sPlain)
	}
	out.line(l)
	out.newline()
	writeFailures(out, res.Failures, o.width())
	if p.Note != "" && !res.Pass {
		out.line(line{{"  note: " + sanitize(p.Note), sDim}})
		out.newline()
	}
	if res.Rows != nil && res.Expect != nil && (!res.Pass || o.Verbose) {
		writeSideBySide(out, res, o.width())
	}
	if !res.Pass || o.Verbose {
		out.newline()
	}
}

// writeFailures lists a result's failures, each wrapped under its head.
func writeFailures(out *writer, failures []check.Failure, width int) {
	for i, f := range failures {
		head, hst := "  ✗ first divergence: ", sBad
		if i > 0 {
			head, hst = "  · also: ", sWarn
		}
		for n, text := range wrapWords(sanitize(f.Message), width-textWidth(head)) {
			if n == 0 {
				out.span(span{head, hst})
			} else {
				out.spaces(textWidth(head))
			}
			out.span(span{text, sPlain})
			out.newline()
		}
	}
}

// writeSideBySide draws the alignment: the expected step on the left, the
// observed hop on the right, a mark between them.
func writeSideBySide(out *writer, res *check.Result, width int) {
	const margin, markW, sep = 4, 2, 3 // "    ✓ left │ right"
	left := (width - margin - markW - sep) / 2
	right := width - margin - markW - sep - left
	hdr := func(a, b string) {
		out.spaces(margin + markW)
		out.cell(line{{a, sDim}}, left)
		out.span(span{" │ ", sDim})
		out.cell(line{{b, sDim}}, right)
		out.newline()
	}
	hdr("expected", "actual")
	j := res.Journey
	prevStep := -2
	for _, r := range res.Rows {
		var exp, act []line
		if r.Step >= 0 && r.Step != prevStep {
			exp = stepLines(&res.Expect.Path[r.Step], r.Status)
		}
		if r.Step >= 0 {
			prevStep = r.Step
		}
		if r.Hop >= 0 {
			act = hopLines(&j.Hops[r.Hop], r.Status)
		}
		if len(exp) == 0 && len(act) == 0 {
			continue
		}
		exp, act = wrapCell(exp, left), wrapCell(act, right)
		mark, mst := "  ", sPlain
		switch r.Status {
		case check.RowMatch:
			mark, mst = "✓ ", sGood
		case check.RowDiverge:
			mark, mst = "✗ ", sBad
		case check.RowUnjudged:
			mark, mst = "· ", sDim
		}
		for n := 0; n < max(len(exp), len(act)); n++ {
			out.spaces(margin)
			if n == 0 {
				out.span(span{mark, mst})
			} else {
				out.spaces(markW)
			}
			var el, al line
			if n < len(exp) {
				el = exp[n]
			}
			if n < len(act) {
				al = act[n]
			}
			out.cell(el, left)
			out.span(span{" │ ", pick(r.Status == check.RowDiverge, sBad, sDim)})
			out.cell(al, right)
			out.newline()
		}
	}
}

// stepLines describes an expected step: a first line with the hook and
// place, then one line per further condition.
func stepLines(s *check.Step, st check.RowStatus) []line {
	base := pick(st == check.RowUnjudged, sDim, sPlain)
	if s.Gap {
		return []line{{{"…", sDim}}}
	}
	var l line
	hook := s.Hook
	if hook == "" {
		hook = "any hook"
	}
	l.add(sanitize(hook), pick(st == check.RowUnjudged, sDim, sTC))
	if s.Dev != "" {
		l.add(" "+sanitize(s.Dev), pick(base == sDim, sDim, sDevice))
	}
	if s.Netns != "" {
		l.add(" @"+sanitize(s.Netns), pick(base == sDim, sDim, sNetns))
	}
	out := []line{l}
	sub := func(k, v string) {
		out = append(out, line{{"  " + k + " ", sDim}, {sanitize(v), base}})
	}
	if s.Prog != "" {
		sub("prog", s.Prog)
	}
	if s.ProgsSet && len(s.Progs) > 0 {
		sub("progs", strings.Join(s.Progs, ", "))
	}
	if s.ChainSet {
		sub("chain", check.ChainString(s.Chain))
	}
	if s.Verdict != "" {
		sub("verdict", s.Verdict)
	}
	if s.DropReason != "" {
		sub("drop", s.DropReason)
	}
	if s.NAT != nil {
		sub("nat", s.NAT.String())
	}
	if s.Budget > 0 {
		sub("budget", "≤ "+check.FormatDuration(s.Budget))
	}
	return out
}

// hopLines describes an observed hop the same way; hops inside a gap get
// one dim line.
func hopLines(h *journey.Hop, st check.RowStatus) []line {
	var l line
	l.add(fmt.Sprintf("%2d ", h.Index), sDim)
	hook, hst := hookLabel(h)
	if st == check.RowGap || st == check.RowUnjudged {
		hst = sDim
	}
	l.add(hook, hst)
	if h.Device.Name != "" {
		l.add(" "+sanitize(h.Device.Name), pick(hst == sDim, sDim, sDevice))
	}
	if h.Device.NetnsName != "" {
		l.add(" @"+sanitize(h.Device.NetnsName), pick(hst == sDim, sDim, sNetns))
	}
	if h.Delta > 0 {
		l.add(" "+fmtDelta(h.Delta), sDim)
	}
	if st == check.RowGap {
		return []line{l}
	}
	out := []line{l}
	sub := func(k, v string, vst sty) {
		out = append(out, line{{"   " + k + " ", sDim}, {sanitize(v), pick(st == check.RowUnjudged, sDim, vst)}})
	}
	if h.Hook.IsTC() {
		if len(h.Progs) > 0 {
			var names []string
			for _, p := range h.Progs {
				names = append(names, p.Name)
			}
			sub("progs", strings.Join(names, ", "), sProg)
		}
		if len(h.TailCalls) > 0 {
			sub("chain", check.TailCallString(h.TailCalls), sProg)
		}
		if h.Verdict != "" {
			sub("verdict", h.Verdict, verdictStyle(h.Verdict))
		}
	}
	if h.DropReason != "" {
		sub("drop", reasonName(h.DropReason), sBad)
	}
	if h.NATFrom != nil {
		sub("nat", natKind(*h.NATFrom, h.Tuple)+" "+natChange(*h.NATFrom, h.Tuple), sNATNew)
	}
	return out
}

// natChange is "dst→10.244.2.2:8080" for the sides a NAT rewrote.
func natChange(old, cur journey.Tuple) string {
	var parts []string
	if old.Src != cur.Src {
		parts = append(parts, "src→"+cur.Src.String())
	}
	if old.Dst != cur.Dst {
		parts = append(parts, "dst→"+cur.Dst.String())
	}
	return strings.Join(parts, " ")
}

// wrapWords breaks s into lines of at most w cells at spaces; a word longer
// than w gets a line of its own.
func wrapWords(s string, w int) []string {
	var out []string
	cur := ""
	for _, word := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = word
		case textWidth(cur)+1+textWidth(word) <= w:
			cur += " " + word
		default:
			out = append(out, cur)
			cur = word
		}
	}
	if cur != "" || len(out) == 0 {
		out = append(out, cur)
	}
	return out
}

// wrapCell wraps the detail lines of a cell (a label and a value, such as
// a long chain) onto further lines indented under the value; other lines
// are cut when the column is too narrow.
func wrapCell(ls []line, w int) []line {
	var out []line
	for _, l := range ls {
		if l.width() <= w || len(l) != 2 {
			out = append(out, l)
			continue
		}
		label, value := l[0], l[1]
		indent := textWidth(label.text)
		if w-indent < 10 {
			out = append(out, l)
			continue
		}
		for n, chunk := range wrapWords(value.text, w-indent) {
			if n == 0 {
				out = append(out, line{label, {chunk, value.st}})
			} else {
				out = append(out, line{{strings.Repeat(" ", indent), sPlain}, {chunk, value.st}})
			}
		}
	}
	return out
}
