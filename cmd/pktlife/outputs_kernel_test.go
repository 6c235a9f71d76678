package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/html"

	"github.com/pktlife/pktlife/internal/netnstest"
)

// requireTool finds a Debian tool a test reads pktlife's output with.
// `make test` installs them (deps-test) and sets PKTLIFE_REQUIRE_TOOLS, so
// there a missing tool fails the test instead of skipping it.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("PKTLIFE_REQUIRE_TOOLS") != "" {
		t.Fatalf("%s not found (Debian package %s; make deps-test installs it)", name, pkg)
	}
	t.Skipf("%s not found: apt-get install %s, or run make test", name, pkg)
	return ""
}

// tsharkFields reads a capture with tshark and returns one row of the
// named fields per frame.
func tsharkFields(t *testing.T, tshark, file string, fields ...string) [][]string {
	t.Helper()
	args := []string{"-r", file, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, errb.String())
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if l != "" {
			rows = append(rows, strings.Split(l, "\t"))
		}
	}
	return rows
}

// TestTracePcapAndHTML traces real UDP datagrams between two namespaces
// with --pcap and --html, reads the capture with Debian's tshark and the
// page with an HTML parser: a frame per hop, carrying the packet's real
// bytes as the kernel saw them, a comment per frame, and interfaces named
// after the devices and namespaces.
func TestTracePcapAndHTML(t *testing.T) {
	netnstest.RequireRoot(t)
	tshark := requireTool(t, "tshark", "tshark")
	a, b := pair(t)
	dir := t.TempDir()
	pcap, page := filepath.Join(dir, "t.pcapng"), filepath.Join(dir, "t.html")
	cmd, out, _ := startTrace(t, "--netns", a.Path, "--netns", b.Path, "--proto", "udp", "--dst", "10.98.0.2",
		"-o", "json", "--pcap", pcap, "--snaplen", "64", "--html", page)
	const sent = 3
	for i := range sent {
		if !udpWorks(t, a, b, strconv.Itoa(7003+i)) {
			t.Fatal("traffic did not flow while tracing")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pktlife: %v", err)
	}

	rows, journeys, hops := checkPcap(t, tshark, pcap, out.String(), 64, func(r []string) bool {
		return r[2] == "10.98.0.1" && r[3] == "10.98.0.2" && strings.HasPrefix(r[4], "700")
	})
	if hops < sent*4 {
		t.Errorf("%d hops in all, want several per datagram", hops)
	}
	names := map[string]bool{}
	for _, r := range rows {
		names[r[0]] = true
	}
	for _, want := range []string{"va@" + a.Name, "vb@" + b.Name} {
		if !names[want] {
			t.Errorf("no interface %q among %v", want, names)
		}
	}

	checkPage(t, page, journeys, hops)
}

// checkPage parses the HTML page and counts its journeys and hop rows.
func checkPage(t *testing.T, page string, journeys, hops int) {
	t.Helper()
	f, err := os.Open(page)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := html.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var sections, rowsHTML int
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, at := range n.Attr {
				if at.Key == "data-journey" {
					sections++
				}
				if at.Key == "data-hop" {
					rowsHTML++
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if sections != journeys || rowsHTML != hops {
		t.Errorf("html page: %d journeys and %d hop rows, want %d and %d", sections, rowsHTML, journeys, hops)
	}
}

// checkPcap reads the capture with tshark and checks it against the
// journeys in ndjson: one frame per hop, in order, each with its comment
// and its device's interface, no more bytes than --snaplen 64 (or the
// default), and every frame one of the traced packets (ours). It returns
// tshark's rows and the number of hops.
func checkPcap(t *testing.T, tshark, pcap, ndjson string, snap int, ours func([]string) bool) (rows [][]string, journeys, hops int) {
	t.Helper()
	type hop struct {
		Hook   string `json:"hook"`
		Device struct {
			Name string `json:"name"`
		} `json:"device"`
	}
	var js []struct {
		ID   int   `json:"id"`
		Hops []hop `json:"hops"`
	}
	for _, l := range strings.Split(strings.TrimSpace(ndjson), "\n") {
		var j struct {
			ID   int   `json:"id"`
			Hops []hop `json:"hops"`
		}
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("not a journey: %q: %v", l, err)
		}
		js = append(js, j)
		hops += len(j.Hops)
	}

	rows = tsharkFields(t, tshark, pcap, "frame.interface_name", "frame.comment", "ip.src", "ip.dst", "udp.dstport", "frame.cap_len")
	if len(rows) != hops {
		t.Fatalf("tshark read %d frames, want one per hop: %d", len(rows), hops)
	}
	k := 0
	real := 0
	for _, j := range js {
		for i, h := range j.Hops {
			r := rows[k]
			k++
			if len(r) < 6 {
				t.Fatalf("frame %d: fields %q", k, r)
			}
			wantComment := "pktlife journey " + strconv.Itoa(j.ID) + " hop " + strconv.Itoa(i+1) + "/" + strconv.Itoa(len(j.Hops)) + ": "
			if !strings.HasPrefix(r[1], wantComment) || !strings.Contains(r[1], h.Hook) {
				t.Errorf("frame %d: comment %q, want %q… naming %s", k, r[1], wantComment, h.Hook)
			}
			if h.Device.Name != "" && !strings.HasPrefix(r[0], h.Device.Name+"@") {
				t.Errorf("frame %d: interface %q, want %s@<namespace>", k, r[0], h.Device.Name)
			}
			if ours(r) {
				real++
			}
			if n, _ := strconv.Atoi(r[5]); n > snap {
				t.Errorf("frame %d: %d bytes captured, over --snaplen %d", k, n, snap)
			}
		}
	}
	// every frame carries the datagram's own headers (bytes from the
	// kernel, or from the nearest hop that read them, as its comment says)
	if real != hops {
		t.Errorf("%d of %d frames hold the traced packets' headers", real, hops)
	}
	return rows, len(js), hops
}

// TestDemoPcapAndHTML runs `pktlife demo --pcap --html` (the README's
// example): the capture holds every hop of the demo's UDP and TCP packets,
// the DNAT and the policy drop are in its comments, and the page holds
// every journey.
func TestDemoPcapAndHTML(t *testing.T) {
	netnstest.RequireRoot(t)
	tshark := requireTool(t, "tshark", "tshark")
	dir := t.TempDir()
	pcap, page := filepath.Join(dir, "demo.pcapng"), filepath.Join(dir, "demo.html")
	code, stdout, stderr := runCLI(t, nil, "demo", "-o", "json", "--pcap", pcap, "--html", page)
	if code != 0 {
		t.Fatalf("demo exit %d: %s", code, stderr)
	}
	rows, journeys, hops := checkPcap(t, tshark, pcap, stdout, defaultSnaplen, func(r []string) bool {
		return r[2] == "10.244.1.2" || r[3] == "10.244.1.2"
	})
	var dnat, drop, chain bool
	for _, r := range rows {
		dnat = dnat || strings.Contains(r[1], "dnat dst 10.96.0.10:80 ⇒ 10.244.2.2:8080")
		drop = drop || strings.Contains(r[1], "kfree_skb") && strings.Contains(r[1], "drop TC_INGRESS")
		chain = chain || strings.Contains(r[1], "chain [demo_calls/0] demo_nat")
	}
	if !dnat || !drop || !chain {
		t.Errorf("comments: dnat %v, policy drop %v, tail-call chain %v: want all", dnat, drop, chain)
	}
	checkPage(t, page, journeys, hops)
}

// TestOutputBadInput: bad output flags are usage errors, with nothing
// attached and no file left behind.
func TestOutputBadInput(t *testing.T) {
	netnstest.RequireRoot(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "-o", "xml"}, "invalid --output"},
		{[]string{"trace", "--pcap", filepath.Join(dir, "x"), "--snaplen", "0"}, "invalid --snaplen 0"},
		{[]string{"trace", "--pcap", filepath.Join(dir, "x"), "--snaplen", "257"}, "invalid --snaplen 257"},
		{[]string{"trace", "--snaplen", "64"}, "--snaplen needs --pcap"},
		{[]string{"trace", "--pcap", filepath.Join(dir, "no/such/dir/x")}, "create --pcap file"},
		{[]string{"demo", "--html", filepath.Join(dir, "no/such/dir/x")}, "create --html file"},
		{[]string{"demo", "--pcap", filepath.Join(dir, "y"), "--html", filepath.Join(dir, "y")}, "same file"},
	} {
		code, _, stderr := runCLI(t, nil, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d stderr %q, want exit 2 and one line with %q", tc.args, code, stderr, tc.want)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("bad input left files: %v", left)
	}
}
