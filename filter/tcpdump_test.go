package filter_test

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/filter"
	"github.com/pktlife/pktlife/filter/filtertest"
)

// TestAgainstTcpdump runs every expression of the corpus through Debian's
// tcpdump on a pcap of the generated packets and through pktlife's
// compiled program, and wants the same packets accepted.
func TestAgainstTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		if os.Geteuid() == 0 {
			t.Fatal("tcpdump not installed: make deps-test installs it")
		}
		t.Skip("tcpdump not installed (make deps-test installs it, as root)")
	}
	pkts := filtertest.Packets()
	frames := make([][]byte, len(pkts))
	for i := range pkts {
		frames[i] = filtertest.Frame(&pkts[i])
	}
	var buf bytes.Buffer
	if err := filtertest.WritePcap(&buf, frames); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "corpus.pcap")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	partial := 0 // expressions that split the packets: the test is not vacuous
	for _, expr := range filtertest.Exprs {
		prog, err := filter.Compile(expr)
		if err != nil {
			t.Errorf("%q: %v", expr, err)
			continue
		}
		want := tcpdumpAccepts(t, tcpdump, file, expr)
		var got []int
		for i := range pkts {
			if prog.Match(&pkts[i]) {
				got = append(got, i)
			}
		}
		if len(want) > 0 && len(want) < len(pkts) {
			partial++
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: pktlife accepts %d packets, tcpdump %d; first difference: %s",
				expr, len(got), len(want), firstDiff(got, want, pkts))
		}
	}
	t.Logf("%d expressions × %d packets; %d expressions accept some packets but not all", len(filtertest.Exprs), len(pkts), partial)
	if partial < len(filtertest.Exprs)-2 {
		t.Errorf("only %d of %d expressions split the packets: the corpus is too weak", partial, len(filtertest.Exprs))
	}
}

// TestAgainstTcpdumpRandom compares 300 seeded random combinations of
// primitives, with and, or, not and parentheses in every arrangement, so
// that precedence and qualifier inheritance meet more than the corpus.
func TestAgainstTcpdumpRandom(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed (make deps-test installs it)")
	}
	pkts := filtertest.Packets()
	frames := make([][]byte, len(pkts))
	for i := range pkts {
		frames[i] = filtertest.Frame(&pkts[i])
	}
	var buf bytes.Buffer
	if err := filtertest.WritePcap(&buf, frames); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "random.pcap")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	atoms := []string{"tcp", "udp", "icmp", "ip6", "ip", "port 53", "src port 80", "dst portrange 1000-2000",
		"host 10.0.0.1", "src net 10.0.0.0/16", "dst host fd00::2", "net fd00::/16", "proto 47",
		"tcp[tcpflags] & tcp-syn != 0", "sctp", "src and dst net 10.0.0.0/8", "10.0.0.2", "2000"}
	r := rand.New(rand.NewPCG(16, 53))
	var gen func(depth int) string
	gen = func(depth int) string {
		if depth == 0 || r.IntN(3) == 0 {
			return atoms[r.IntN(len(atoms))]
		}
		switch r.IntN(4) {
		case 0:
			return "not " + gen(depth-1)
		case 1:
			return "(" + gen(depth-1) + ")"
		case 2:
			return gen(depth-1) + " and " + gen(depth-1)
		}
		return gen(depth-1) + " or " + gen(depth-1)
	}
	var compared, lenient int
	for range 300 {
		expr := gen(4)
		prog, err := filter.Compile(expr)
		if err != nil {
			continue // a bare value with no qualifier before it, or too long
		}
		want, ok := tcpdumpAcceptsOrRefuses(t, tcpdump, file, expr)
		if !ok {
			// tcpdump refuses a bare value where pktlife lets it take the
			// previous qualifiers (after a parenthesis closed, say)
			lenient++
			continue
		}
		compared++
		var got []int
		for i := range pkts {
			if prog.Match(&pkts[i]) {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: pktlife accepts %d packets, tcpdump %d; first difference: %s",
				expr, len(got), len(want), firstDiff(got, want, pkts))
		}
	}
	if compared < 150 {
		t.Errorf("only %d of 300 random expressions compiled", compared)
	}
	t.Logf("%d random expressions compared; %d that tcpdump refuses pktlife takes", compared, lenient)
}

// tcpdumpAccepts returns the indices of the packets tcpdump prints.
func tcpdumpAccepts(t *testing.T, tcpdump, file, expr string) []int {
	t.Helper()
	idx, ok := tcpdumpAcceptsOrRefuses(t, tcpdump, file, expr)
	if !ok {
		t.Fatalf("tcpdump refuses %q", expr)
	}
	return idx
}

// tcpdumpAcceptsOrRefuses is tcpdumpAccepts, or false when tcpdump
// refuses the expression.
func tcpdumpAcceptsOrRefuses(t *testing.T, tcpdump, file, expr string) ([]int, bool) {
	t.Helper()
	cmd := exec.Command(tcpdump, "-nn", "-tt", "-r", file, expr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "syntax error") {
			return nil, false
		}
		if strings.Contains(stderr.String(), "expression rejects all packets") {
			return nil, true // its optimizer proved it
		}
		t.Fatalf("tcpdump %q: %v: %s", expr, err, stderr.String())
	}
	var idx []int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "\t") || strings.HasPrefix(sc.Text(), " ") {
			continue // a continuation: a hex dump of what tcpdump does not decode
		}
		sec, _, _ := strings.Cut(sc.Text(), ".")
		n, err := strconv.Atoi(sec)
		if err != nil {
			t.Fatalf("tcpdump %q: unexpected line %q", expr, sc.Text())
		}
		idx = append(idx, n)
	}
	return idx, true
}

func firstDiff(got, want []int, pkts []filter.Packet) string {
	in := func(s []int, v int) bool { _, ok := slices.BinarySearch(s, v); return ok }
	for i := range pkts {
		if in(got, i) != in(want, i) {
			return strconv.Itoa(i) + " " + describe(&pkts[i]) + " (pktlife " + strconv.FormatBool(in(got, i)) + ")"
		}
	}
	return "none"
}

func describe(p *filter.Packet) string {
	return "family " + strconv.Itoa(int(p.Family)) + " proto " + strconv.Itoa(int(p.Proto)) + " " +
		p.Src.String() + ":" + strconv.Itoa(int(p.Sport)) + " > " + p.Dst.String() + ":" + strconv.Itoa(int(p.Dport))
}
