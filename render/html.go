package render

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"

	"github.com/pktlife/pktlife/trace/journey"
)

// HTML writes journeys as one self-contained HTML page: a waterfall per
// journey, with a lane per device, lanes grouped by network namespace, one
// row per hop placed in its device's lane, the packet's path drawn from
// lane to lane, a timing bar per hop, the tc programs and tail-call chain
// nested under their hop, NAT highlighted and drops marked. Every element
// has its details as a tooltip; the page's small script shows them in a
// panel too, and the page reads the same without it. Nothing is fetched:
// styles, script and drawings (SVG) are inline, and every text is escaped
// by html/template.
//
// The page is written at Close: journeys are kept until then, at most
// MaxHTMLJourneys of them (the page says how many more there were).
type HTML struct {
	w        io.Writer
	title    string
	journeys []htmlJourney
	omitted  int
	closed   bool
}

// MaxHTMLJourneys bounds the journeys an HTML page holds.
const MaxHTMLJourneys = 2000

var _ Renderer = (*HTML)(nil)

//go:embed html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("page").Parse(htmlSource))

// NewHTML returns an HTML renderer that writes a page titled title to w
// when closed.
func NewHTML(w io.Writer, title string) *HTML {
	return &HTML{w: w, title: title}
}

// Journey lays out one journey.
func (h *HTML) Journey(j *journey.Journey) error {
	if h.closed {
		return fmt.Errorf("render html: %w", ErrClosed)
	}
	if len(h.journeys) >= MaxHTMLJourneys {
		h.omitted++
		return nil
	}
	h.journeys = append(h.journeys, layoutJourney(j))
	return nil
}

// Close writes the page. It is safe to call twice; the second call writes
// nothing.
func (h *HTML) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	doc := htmlDoc{Title: h.title, Journeys: h.journeys, Omitted: h.omitted}
	if err := htmlTemplate.Execute(h.w, doc); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	return nil
}

type htmlDoc struct {
	Title    string
	Journeys []htmlJourney
	Omitted  int
}

type htmlJourney struct {
	ID                   uint64
	Flow, Fate, FateKind string
	Meta                 string
	Width, Height        int
	Bands                []htmlBand
	Lanes                []htmlLane
	Rows                 []htmlRow
	Path                 string // polyline points through the hops
	AxisX, AxisW         int    // the timing bars' area
	AtX, DeltaX, DetailX int
}

type htmlBand struct {
	X, W, Shade int
	Name, Title string
}

type htmlLane struct {
	X, W, Center int
	Name, Title  string
}

type htmlRow struct {
	Index, Y, H     int
	TY, PY, PCX, BY int // text baseline, pill top and centre, bar top
	BadgeX, BadgeY  int
	BadgeCX         int
	BadgeTY         int
	Hook, Short     string
	Kind            string
	At, Delta       string
	PillX, PillW    int
	BarX, BarW      int
	Tip             string
	Detail          string
	NAT, Drop       bool
	Subs            []htmlSub
	Verdict, VClass string
}

// htmlSub is a program or tail call nested under a tc hop.
type htmlSub struct {
	X, Y, W int
	TX, TY  int
	Elbow   string // the line from the hop's pill or the previous call
	Text    string
	Tip     string
	Kind    string
}

// The layout's measures, in SVG user units (pixels).
const (
	hLabelW  = 230
	hLaneW   = 150
	hAxisW   = 200
	hDetailW = 360
	hHeadH   = 56
	hRowH    = 30
	hSubH    = 19
	hPillH   = 20
)

type laneKey struct {
	netns, ifindex uint32
	node           string
}

// layoutJourney places j's hops: lanes in order of first appearance,
// grouped by namespace; rows top to bottom.
func layoutJourney(j *journey.Journey) htmlJourney {
	hj := htmlJourney{ID: j.ID, FateKind: string(j.Fate)}
	last := lastTuple(j)
	var src, dst line
	src.addTupleSrc(j.Tuple, last)
	dst.addTupleDst(j.Tuple, last)
	hj.Flow = plainLine(src) + " " + plainLine(dst)
	hj.Fate = plainLine(appendFate(nil, j))
	meta := []string{plural(len(j.Hops), "hop", "hops"), fmtDur(j.Duration)}
	if j.Node != "" {
		meta = append(meta, sanitize(j.Node))
	}
	if !j.StartWall.IsZero() {
		meta = append(meta, j.StartWall.Format("2006-01-02 15:04:05.000000"))
	}
	meta = append(meta, "skb "+j.Skb.String())
	hj.Meta = strings.Join(meta, " · ")

	lanes := layoutLanes(j, &hj)
	hj.AxisX = hLabelW + len(hj.Lanes)*hLaneW + 16
	hj.AxisW = hAxisW
	hj.AtX = hLabelW - 8
	hj.DeltaX = hj.AxisX + hAxisW + 70
	hj.DetailX = hj.DeltaX + 10
	hj.Width = hj.DetailX + hDetailW
	y := hHeadH
	var pts []string
	for i := range j.Hops {
		r := layoutRow(j, i, y, &hj, hj.Lanes[lanes[i]])
		pts = append(pts, strconv.Itoa(hj.Lanes[lanes[i]].Center)+","+strconv.Itoa(y+hRowH/2))
		hj.Rows = append(hj.Rows, r)
		y += r.H
	}
	hj.Path = strings.Join(pts, " ")
	// the details column as wide as its longest line
	for _, r := range hj.Rows {
		w := (len([]rune(r.Verdict)) + len([]rune(r.Detail)) + 3) * 15 / 2
		hj.Width = max(hj.Width, hj.DetailX+w+12)
		for _, s := range r.Subs {
			hj.Width = max(hj.Width, s.X+s.W+12)
		}
	}
	hj.Height = y + 8
	return hj
}

// layoutLanes makes the lanes and namespace bands and returns each hop's
// lane.
func layoutLanes(j *journey.Journey, hj *htmlJourney) []int {
	type nsLanes struct {
		dev  journey.Device
		node string
		keys []laneKey
		devs []journey.Device
	}
	var order []*nsLanes
	byNs := map[string]*nsLanes{}
	for _, h := range j.Hops {
		nk := h.Node() + "/" + strconv.FormatUint(uint64(h.Device.Netns), 10)
		ns := byNs[nk]
		if ns == nil {
			ns = &nsLanes{dev: h.Device, node: h.Node()}
			byNs[nk] = ns
			order = append(order, ns)
		}
		k := laneKey{h.Device.Netns, h.Device.Ifindex, h.Node()}
		found := false
		for _, e := range ns.keys {
			found = found || e == k
		}
		if !found {
			ns.keys = append(ns.keys, k)
			ns.devs = append(ns.devs, h.Device)
		}
	}
	index := map[laneKey]int{}
	x := hLabelW
	for bi, ns := range order {
		name := netnsLabel(ns.dev)
		if ns.node != "" {
			name = sanitize(ns.node) + " · " + name
		}
		hj.Bands = append(hj.Bands, htmlBand{
			X: x, W: len(ns.keys) * hLaneW, Shade: bi % 2, Name: cutMiddle(name, 2*len(ns.keys)*hLaneW/14),
			Title: fmt.Sprintf("network namespace %s (inode %d)", name, ns.dev.Netns),
		})
		for i, k := range ns.keys {
			d := ns.devs[i]
			index[k] = len(hj.Lanes)
			label := deviceLabel(d, 18)
			if d.Name == "" && d.Ifindex == 0 {
				label = "(no device)"
			}
			hj.Lanes = append(hj.Lanes, htmlLane{
				X: x, W: hLaneW, Center: x + hLaneW/2, Name: label,
				Title: fmt.Sprintf("device %s (ifindex %d) in %s", sanitize(d.Name), d.Ifindex, name),
			})
			x += hLaneW
		}
	}
	out := make([]int, len(j.Hops))
	for i, h := range j.Hops {
		out[i] = index[laneKey{h.Device.Netns, h.Device.Ifindex, h.Node()}]
	}
	return out
}

// layoutRow lays out hop i at y in lane ln.
func layoutRow(j *journey.Journey, i, y int, hj *htmlJourney, ln htmlLane) htmlRow {
	h := &j.Hops[i]
	hook, _ := hookLabel(h)
	r := htmlRow{Index: h.Index, Y: y, H: hRowH, Hook: hook, Kind: hookKind(h),
		At: fmtDur(h.At), Delta: fmtDelta(h.Delta), PillX: ln.X + 6, PillW: ln.W - 12,
		TY: y + 19, PY: y + 5, PCX: ln.Center, BY: y + 10, BadgeX: ln.X, BadgeY: y - 2, BadgeCX: ln.X + 15, BadgeTY: y + 8}
	r.Short = cutMiddle(hook, (r.PillW-8)/7)
	if i == 0 {
		r.Delta = ""
	}
	// timing bar: from the hop's time to the next hop's, on the journey's scale
	total := j.Duration
	if total <= 0 {
		total = 1
	}
	end := h.At
	if i+1 < len(j.Hops) {
		end = j.Hops[i+1].At
	}
	r.BarX = hj.AxisX + int(int64(hAxisW)*int64(h.At)/int64(total))
	r.BarW = max(int(int64(hAxisW)*int64(end-h.At)/int64(total)), 2)
	r.BarX = min(r.BarX, hj.AxisX+hAxisW-2)
	r.BarW = min(r.BarW, hj.AxisX+hAxisW-r.BarX)

	var detail []string
	if h.Verdict != "" {
		r.Verdict = sanitize(h.Verdict)
		if h.VerdictInferred {
			r.Verdict += " (inferred)"
		}
		r.VClass = verdictClass(h.Verdict)
	}
	if h.DropReason != "" {
		r.Drop = true
		detail = append(detail, "✗ drop "+reasonName(h.DropReason))
	}
	if nats := natTexts(j, h); len(nats) > 0 {
		r.NAT = true
		detail = append(detail, nats...)
	}
	if h.Ret != nil && h.Hook != journey.HookKfreeSkb {
		detail = append(detail, "ret "+strconv.FormatInt(*h.Ret, 10))
	}
	r.Detail = strings.Join(detail, " · ")
	r.Tip = hopTip(j, h)

	// programs, then the tail-call chain, each one nested one step deeper
	// than the program it left
	sy := y + hRowH - 4
	px, py := ln.Center, y+25 // where the elbow to the next one starts
	sub := func(depth int, text, tip, kind string) {
		x := ln.X + 8 + depth*12
		r.Subs = append(r.Subs, htmlSub{X: x, Y: sy, W: len([]rune(text))*7 + 10, TX: x + 5, TY: sy + 12,
			Elbow: fmt.Sprintf("M%d %d V%d H%d", px, py, sy+8, x), Text: text, Tip: tip, Kind: kind})
		px, py = x+6, sy+16
		sy += hSubH
	}
	for _, p := range h.Progs {
		sub(0, "prog "+progLabel(p), "program "+progLabel(p)+" runs at this hook after pktlife's observer", "prog")
	}
	prev := h.At // times as the text timeline gives them: since the previous call
	for k, tc := range h.TailCalls {
		kind, at, tip := "tail", "", ""
		switch {
		case tc.Missed:
			kind = "tail missed"
		case !tc.Inferred:
			at = fmtDelta(tc.At - prev)
			tip = ", " + at + " after the previous program"
			prev = tc.At
		}
		sub(min(k+1, 8), strings.TrimSpace("↳ "+tailCallText(tc)+"  "+at),
			fmt.Sprintf("tail call %d of this hop: %s%s (map id %d, slot %d)", k+1, tailCallText(tc), tip, tc.MapID, tc.Slot), kind)
	}
	r.H += len(r.Subs) * hSubH
	return r
}
