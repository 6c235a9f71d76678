package render

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/pktlife/pktlife/trace/journey"
)

func renderHTML(t testing.TB, js ...*journey.Journey) []byte {
	t.Helper()
	var b bytes.Buffer
	r := NewHTML(&b, "pktlife journeys")
	for _, j := range js {
		if err := r.Journey(j); err != nil {
			t.Fatalf("render html: %v", err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatalf("close html renderer: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	return b.Bytes()
}

// nodes returns the elements under n for which keep is true.
func nodes(n *html.Node, keep func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && keep(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, tag, class string) bool {
	return n.Data == tag && strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")
}

func byClass(n *html.Node, tag, class string) []*html.Node {
	return nodes(n, func(n *html.Node) bool { return hasClass(n, tag, class) })
}

func TestHTMLGolden(t *testing.T) {
	golden(t, "all.html", renderHTML(t, allJourneys()...))
}

// TestHTMLStructure checks the page's DOM: one section per journey, a lane
// per device and a band per namespace, a row per hop, the tail-call chain
// nested under its hop, NAT and drops marked, tooltips everywhere.
func TestHTMLStructure(t *testing.T) {
	js := allJourneys()
	doc, err := html.Parse(bytes.NewReader(renderHTML(t, js...)))
	if err != nil {
		t.Fatal(err)
	}
	sections := byClass(doc, "section", "journey")
	if len(sections) != len(js) {
		t.Fatalf("%d journey sections, want %d", len(sections), len(js))
	}
	for i, s := range sections {
		j := js[i]
		devs, nss := map[[2]uint32]bool{}, map[uint32]bool{}
		for _, h := range j.Hops {
			devs[[2]uint32{h.Device.Netns, h.Device.Ifindex}] = true
			nss[h.Device.Netns] = true
		}
		if n := len(byClass(s, "g", "lane")); n != len(devs) {
			t.Errorf("journey %d: %d lanes, want one per device: %d", j.ID, n, len(devs))
		}
		if n := len(byClass(s, "g", "nsband")); n != len(nss) {
			t.Errorf("journey %d: %d namespace bands, want %d", j.ID, n, len(nss))
		}
		rows := byClass(s, "g", "row")
		if len(rows) != len(j.Hops) {
			t.Fatalf("journey %d: %d rows, want one per hop: %d", j.ID, len(rows), len(j.Hops))
		}
		for k, r := range rows {
			checkHTMLRow(t, j, &j.Hops[k], r)
		}
	}
	// dnatTailCallDrop: the chain, the NAT and the drop reason are on the page
	page := string(renderHTML(t, dnatTailCallDrop()))
	for _, want := range []string{"[demo_calls/0] demo_nat (id 80)", "[demo_calls/1] demo_policy (id 81)",
		"dnat dst 10.96.0.10:80 ⇒ 10.244.2.2:8080", "✗ drop TC_INGRESS", "TC_ACT_SHOT (inferred)"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// checkHTMLRow checks one hop's row: its nested tail calls, NAT and drop
// classes and a tooltip naming the hook.
func checkHTMLRow(t *testing.T, j *journey.Journey, h *journey.Hop, r *html.Node) {
	t.Helper()
	if got := len(byClass(r, "g", "tail")); got != len(h.TailCalls) {
		t.Errorf("journey %d hop %d: %d nested tail calls, want %d", j.ID, h.Index, got, len(h.TailCalls))
	}
	if want := len(natsAt(j, h)) > 0; hasClass(r, "g", "nat") != want {
		t.Errorf("journey %d hop %d: NAT class %v, want %v", j.ID, h.Index, !want, want)
	}
	if hasClass(r, "g", "drop") != (h.DropReason != "") {
		t.Errorf("journey %d hop %d: drop class wrong", j.ID, h.Index)
	}
	titles := nodes(r, func(n *html.Node) bool { return n.Data == "title" })
	if len(titles) == 0 || !strings.Contains(titles[0].FirstChild.Data, h.Hook.String()) && h.Kfunc() == "" {
		t.Errorf("journey %d hop %d: no tooltip naming the hook", j.ID, h.Index)
	}
}

// TestHTMLSelfContainedAndEscaped checks that the page fetches nothing and
// that names from the kernel cannot inject markup.
func TestHTMLSelfContainedAndEscaped(t *testing.T) {
	j := udpDelivered()
	j.Hops[1].Device.Name = `<script>alert("x")</script>`
	j.Hops[2].Device.NetnsName = `"><img src=x onerror=alert(1)>`
	page := renderHTML(t, j)
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(nodes(doc, func(n *html.Node) bool { return n.Data == "script" })); n != 1 {
		t.Errorf("%d script elements, want only the page's own", n)
	}
	if n := len(nodes(doc, func(n *html.Node) bool { return n.Data == "img" })); n != 0 {
		t.Errorf("an injected img element made it into the page")
	}
	for _, n := range nodes(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if a.Key == "src" || (a.Key == "href" && !strings.HasPrefix(a.Val, "#")) {
				t.Errorf("<%s %s=%q>: the page must fetch nothing", n.Data, a.Key, a.Val)
			}
		}
	}
	for _, bad := range []string{"http://", "https://", "@import", "url("} {
		if i := bytes.Index(page, []byte(bad)); i >= 0 && !bytes.Contains(page[max(i-20, 0):i], []byte("xmlns=")) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestHTMLCap(t *testing.T) {
	var b bytes.Buffer
	r := NewHTML(&b, "cap")
	j := udpDelivered()
	for range MaxHTMLJourneys + 3 {
		if err := r.Journey(j); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	if !strings.Contains(b.String(), "3 more not kept") {
		t.Error("the page does not say how many journeys it left out")
	}
	if err := r.Journey(j); err == nil {
		t.Error("Journey after Close succeeded")
	}
}
