package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/pktlife/pktlife/internal/netnstest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pktlife-cli-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // the non-root test runs it as nobody
	binary = filepath.Join(dir, "pktlife")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs pktlife and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, cred *syscall.Credential, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("run %v: %v", args, err)
	return 0, "", ""
}

func TestBadInput(t *testing.T) {
	netnstest.RequireRoot(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"trace", "--count", "0"}, "invalid --count 0"},
		{[]string{"trace", "--src", "10.0.0.0/33"}, "invalid --src"},
		{[]string{"trace", "--dst", "not-an-ip"}, "invalid --dst"},
		{[]string{"trace", "--dport", "70000"}, "invalid --dport 70000"},
		{[]string{"trace", "--max-rate", "-5"}, "invalid --max-rate -5"},
		{[]string{"trace", "--proto", "bogus"}, "parse protocol"},
		{[]string{"trace", "--host", "10.0.0.1", "--src", "10.0.0.2"}, "--host cannot be combined"},
		{[]string{"trace", "--src", "10.0.0.1", "--dst", "fd00::1"}, "IPv4 and IPv6"},
		{[]string{"trace", "--iface", "no-such-device-xyz"}, "no such interface"},
		{[]string{"trace", "--iface", "[bad"}, "syntax error in pattern"},
		{[]string{"trace", "--netns", "/nonexistent/netns"}, "network namespace not found"},
		{[]string{"trace", "--hops", "no_such_hop"}, "unknown hop"},
		{[]string{"trace", "-o", "xml"}, "invalid --output"},
		{[]string{"trace", "--bogus-flag"}, "unknown flag"},
		{[]string{"trace", "udp", "and"}, `parse filter "udp and": missing a primitive at the end`},
		{[]string{"trace", "ip[6:2] & 0x1fff = 0"}, "packet byte offsets (ip[...]) are not supported"},
		{[]string{"trace", "ether host 1.2.3.4"}, `"ether" is not supported`},
		{[]string{"progs", "--netns", "nope-not-here"}, "no such network namespace"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, c.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "pktlife: ") || !strings.Contains(lines[0], c.want) {
				t.Errorf("stderr %q: want one line 'pktlife: …%s…'", stderr, c.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestNonRoot(t *testing.T) {
	netnstest.RequireRoot(t) // to drop to nobody
	code, _, stderr := runCLI(t, &syscall.Credential{Uid: 65534, Gid: 65534}, "trace")
	if code != exitUsage || !strings.Contains(stderr, "must run as root") {
		t.Errorf("exit %d stderr %q, want 2 and 'must run as root'", code, stderr)
	}
}

// startTrace starts `pktlife trace` and waits for its ready line. The rest
// of its stderr (the summary) is in rest once it has exited: call rest
// before cmd.Wait.
func startTrace(t *testing.T, args ...string) (cmd *exec.Cmd, out *bytes.Buffer, rest func() string) {
	t.Helper()
	cmd = exec.Command(binary, append([]string{"trace"}, args...)...)
	out = new(bytes.Buffer)
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	startKilledAtCleanup(t, cmd)
	ready := make(chan error, 1)
	var after strings.Builder
	done := make(chan struct{})
	rest = func() string { <-done; return after.String() }
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "tracing ") {
				ready <- nil
				io.Copy(&after, stderr)
				return
			}
			if strings.HasPrefix(sc.Text(), "pktlife: ") {
				ready <- errors.New(sc.Text())
				return
			}
		}
		ready <- errors.New("stderr closed before the ready line")
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("pktlife trace: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("pktlife trace not ready within 20s")
	}
	return cmd, out, rest
}

// observers lists pktlife's programs and filters attached in a namespace.
func observers(t *testing.T, ns *netnstest.NS) []string {
	t.Helper()
	found, err := netnstest.PktlifeAttachments(ns.Do)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func hasClsact(t *testing.T, ns *netnstest.NS, dev string) bool {
	t.Helper()
	qs, err := ns.Handle().QdiscList(ns.Link(t, dev))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Type() == "clsact" {
			return true
		}
	}
	return false
}

func addClsact(t *testing.T, ns *netnstest.NS, dev string) {
	t.Helper()
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ns.Link(t, dev).Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := ns.Handle().QdiscAdd(q); err != nil {
		t.Fatal(err)
	}
}

func pair(t *testing.T) (a, b *netnstest.NS) {
	s := netnstest.Suffix()
	a = netnstest.New(t, "pl-cli-a-"+s)
	b = netnstest.New(t, "pl-cli-b-"+s)
	netnstest.Veth(t, a, "va", netip.MustParsePrefix("10.98.0.1/24"), b, "vb", netip.MustParsePrefix("10.98.0.2/24"))
	return a, b
}

// udpWorks sends one datagram a → b and reports whether it arrived.
func udpWorks(t *testing.T, a, b *netnstest.NS, port string) bool {
	t.Helper()
	srv := b.ListenUDP(t, "10.98.0.2:"+port)
	cli := a.DialUDP(t, "", "10.98.0.2:"+port)
	if _, err := cli.Write([]byte("ping")); err != nil {
		return false
	}
	srv.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 16)
	n, _, err := srv.ReadFrom(buf)
	return err == nil && string(buf[:n]) == "ping"
}

func TestSignalsDetachEverything(t *testing.T) {
	netnstest.RequireRoot(t)
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		args []string
	}{
		{"tcx-SIGTERM", syscall.SIGTERM, nil},
		{"tcx-SIGINT", syscall.SIGINT, nil},
		{"legacy-SIGTERM", syscall.SIGTERM, []string{"--legacy-tc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair(t)
			addClsact(t, b, "vb") // someone else's qdisc: must survive
			args := append([]string{"--netns", a.Path, "--netns", b.Path, "--proto", "udp", "--dport", "7001"}, tc.args...)
			cmd, out, _ := startTrace(t, args...)
			if got := observers(t, a); len(got) == 0 {
				t.Fatalf("no observer attached in %s", a.Name)
			}
			if !udpWorks(t, a, b, "7001") {
				t.Error("traffic did not flow while tracing")
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("pktlife after %s: %v", tc.sig, err)
			}
			if !strings.Contains(out.String(), "10.98.0.2:7001") {
				t.Errorf("the datagram's journey was not printed before exit:\n%s", out.String())
			}
			for _, ns := range []*netnstest.NS{a, b} {
				if got := observers(t, ns); len(got) != 0 {
					t.Errorf("left attached in %s: %v", ns.Name, got)
				}
			}
			if hasClsact(t, a, "va") {
				t.Error("clsact qdisc pktlife created on va was left")
			}
			if !hasClsact(t, b, "vb") {
				t.Error("the clsact qdisc that existed before on vb was removed")
			}
		})
	}
}

func TestSIGKILLThenCleanup(t *testing.T) {
	netnstest.RequireRoot(t)
	a, b := pair(t)
	cmd, _, _ := startTrace(t, "--netns", a.Path, "--netns", b.Path, "--legacy-tc", "--proto", "udp")
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	left := observers(t, a)
	if len(left) == 0 {
		t.Fatal("expected legacy observer filters to survive SIGKILL (else this test checks nothing)")
	}
	if !udpWorks(t, a, b, "7002") {
		t.Error("datapath broken after SIGKILL: traffic does not flow through the left observers")
	}
	code, stdout, stderr := runCLI(t, nil, "cleanup")
	if code != 0 {
		t.Fatalf("cleanup exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "removed pktlife tc observer from va") {
		t.Errorf("cleanup output %q does not report va", stdout)
	}
	for _, ns := range []*netnstest.NS{a, b} {
		if got := observers(t, ns); len(got) != 0 {
			t.Errorf("left after cleanup in %s: %v", ns.Name, got)
		}
	}
	if !udpWorks(t, a, b, "7003") {
		t.Error("traffic does not flow after cleanup")
	}
}

func TestDemoCommand(t *testing.T) {
	netnstest.RequireRoot(t)
	existing, _ := filepath.Glob("/run/netns/pktlife-demo-*")
	code, stdout, stderr := runCLI(t, nil, "demo", "-o", "json")
	if code != 0 {
		t.Fatalf("demo exit %d: %s", code, stderr)
	}
	var delivered, dropped, dnat int
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var j struct {
			Fate       string `json:"fate"`
			DropReason string `json:"drop_reason"`
			NAT        []struct {
				Kind string `json:"kind"`
			} `json:"nat"`
		}
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			t.Fatalf("not a journey: %q: %v", line, err)
		}
		switch j.Fate {
		case "delivered":
			delivered++
		case "dropped":
			dropped++
			if j.DropReason != "TC_INGRESS" {
				t.Errorf("drop reason %q, want TC_INGRESS", j.DropReason)
			}
		}
		for _, n := range j.NAT {
			if n.Kind == "dnat" {
				dnat++
			}
		}
	}
	if delivered < 3 || dropped != 1 || dnat < 2 {
		t.Errorf("delivered %d dropped %d dnat %d: want ≥3 delivered, the policy drop, DNAT on UDP and TCP", delivered, dropped, dnat)
	}
	if left := newNetns(existing); len(left) != 0 {
		t.Errorf("demo left namespaces: %v", left)
	}
}

func TestDemoKilledThenCleanup(t *testing.T) {
	netnstest.RequireRoot(t)
	existing, _ := filepath.Glob("/run/netns/pktlife-demo-*")
	cmd := exec.Command(binary, "demo")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "attached") {
	}
	before := newNetns(existing)
	cmd.Process.Kill()
	cmd.Wait()
	if len(before) == 0 {
		t.Fatal("no demo namespaces while the demo ran (else this test checks nothing)")
	}
	code, stdout, errOut := runCLI(t, nil, "cleanup")
	if code != 0 {
		t.Fatalf("cleanup exit %d: %s", code, errOut)
	}
	for _, p := range before {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left after cleanup (output %q)", p, stdout)
		}
	}
}

// newNetns lists demo namespaces that were not in old.
func newNetns(old []string) []string {
	cur, _ := filepath.Glob("/run/netns/pktlife-demo-*")
	var out []string
	for _, p := range cur {
		if !slices.Contains(old, p) {
			out = append(out, p)
		}
	}
	return out
}

// TestSummaryCountsSkipped checks the closing summary's kernel counters,
// which are read after everything is detached: a burst far over --max-rate
// must show up as skipped packets.
func TestSummaryCountsSkipped(t *testing.T) {
	netnstest.RequireRoot(t)
	a, b := pair(t)
	if !udpWorks(t, a, b, "7003") { // also resolves the neighbour first
		t.Fatal("no UDP between the namespaces")
	}
	cmd, _, rest := startTrace(t, "--netns", a.Path, "--netns", b.Path, "--proto", "udp", "--dport", "7004", "--max-rate", "1")
	srv := b.ListenUDP(t, "10.98.0.2:7004")
	cli := a.DialUDP(t, "", "10.98.0.2:7004")
	const sent = 50
	buf := make([]byte, 16)
	for range sent {
		if _, err := cli.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		srv.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, _, err := srv.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	summary := rest()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pktlife: %v\n%s", err, summary)
	}
	m := regexp.MustCompile(`(\d+) skipped \(--max-rate\)`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no skipped count in the summary:\n%s", summary)
	}
	n, _ := strconv.Atoi(m[1])
	// one packet per CPU per ncpu seconds may be followed
	if n < sent-2*runtime.NumCPU() || n > sent {
		t.Errorf("summary says %d skipped of %d sent under --max-rate 1:\n%s", n, sent, summary)
	}
}

// startKilledAtCleanup starts cmd and kills it when the test ends, unless
// the test waited for it.
func startKilledAtCleanup(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
}
