package filter_test

import (
	"bufio"
	"bytes"
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

// tcpdumpAccepts returns the indices of the packets tcpdump prints.
func tcpdumpAccepts(t *testing.T, tcpdump, file, expr string) []int {
	t.Helper()
	cmd := exec.Command(tcpdump, "-nn", "-tt", "-r", file, expr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
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
	return idx
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
