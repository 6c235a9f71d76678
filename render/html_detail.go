package render

import (
	"fmt"
	"strings"
	"time"

	"github.com/pktlife/pktlife/trace/journey"
)

// hookKind is the CSS class of a hop's pill.
func hookKind(h *journey.Hop) string {
	switch {
	case h.DropReason != "":
		return "drop"
	case h.Hook.IsTC():
		return "tc"
	case h.Hook == journey.HookSockDeliver || h.Hook == journey.HookSockSend:
		return "sock"
	case h.Hook == journey.HookKfunc || h.Hook == journey.HookKfuncRet:
		return "kfunc"
	case h.Hook == journey.HookConsumeSkb:
		return "free"
	}
	return "tp"
}

func verdictClass(v string) string {
	switch verdictStyle(v) {
	case sGood:
		return "good"
	case sBad:
		return "bad"
	case sInfo:
		return "info"
	}
	return "warn"
}

// hopTip is the hop's tooltip: everything known about it, one fact a line.
func hopTip(j *journey.Journey, h *journey.Hop) string {
	hook, _ := hookLabel(h)
	lines := []string{
		fmt.Sprintf("journey %d · hop %d of %d: %s", j.ID, h.Index, len(j.Hops), hook),
		"device " + deviceLabel(h.Device, 64) + " · netns " + netnsLabel(h.Device),
		"at +" + fmtDur(h.At) + " (" + fmtDelta(h.Delta) + " since the previous hop)",
	}
	if !j.StartWall.IsZero() {
		lines = append(lines, "time "+j.StartWall.Add(h.At).Format(time.RFC3339Nano))
	}
	if h.Tuple.Valid() {
		lines = append(lines, "tuple "+sanitize(h.Tuple.String()))
	}
	lines = append(lines, fmt.Sprintf("skb %s · cpu %d · len %d · mark %#x", h.Skb, h.CPU, h.Len, h.Mark))
	if h.Verdict != "" {
		v := "verdict " + sanitize(h.Verdict)
		if h.VerdictInferred {
			v += " (inferred)"
		}
		lines = append(lines, v)
	}
	if h.DropReason != "" {
		lines = append(lines, "drop reason "+sanitize(h.DropReason))
	}
	lines = append(lines, natTexts(j, h)...)
	for _, p := range h.Progs {
		lines = append(lines, "prog "+progLabel(p))
	}
	for _, tc := range h.TailCalls {
		lines = append(lines, "↳ "+tailCallText(tc))
	}
	if len(h.Packet()) > 0 {
		lines = append(lines, fmt.Sprintf("%d packet bytes captured", len(h.Packet())))
	}
	return strings.Join(lines, "\n")
}
