package main

import (
	"io"
	"os"
	"strconv"

	"golang.org/x/term"

	"github.com/pktlife/pktlife/kube"
	"github.com/pktlife/pktlife/render"
)

// sink picks the output: journeys as they come for one node, merged
// timelines for two; text or NDJSON.
func (a *app) sink(plan *kube.Plan, f *traceFlags) kube.Sink {
	opts := render.Options{Color: colorWanted(f.color), Width: a.width(f.width), Verbose: f.verbose}
	if !plan.MultiNode() {
		if f.output == "json" {
			return kube.RenderSink{R: render.NewJSON(a.stdout)}
		}
		return kube.RenderSink{R: render.NewText(a.stdout, opts)}
	}
	order := kube.Order{plan.Pod.IP: plan.Pod.Node}
	if t := plan.Target; t != nil && t.Node != "" {
		order[t.IP] = t.Node
	}
	var w kube.TimelineWriter = &kube.TimelineText{W: a.stdout,
		New: func(w io.Writer) kube.Renderer { return render.NewText(w, opts) }}
	if f.output == "json" {
		w = kube.TimelineJSON{W: a.stdout}
	}
	return &kube.MergeSink{M: &kube.Merger{Order: order, Window: f.window}, W: w}
}

// width is --width, else the terminal's, else $COLUMNS, else the
// renderer's default.
func (a *app) width(flag int) int {
	if flag > 0 {
		return flag
	}
	if a.stdout == os.Stdout {
		if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 0
}

func stdoutColor(f *os.File) bool { return render.ColorWanted(f) }
