package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/internal/netnstest"
)

// chainNode is a demo topology with the tail-calling chain datapath on pod
// A's node-side device, for the interposition commands.
func chainNode(t *testing.T) (*demo.Topology, *demo.Chain) {
	t.Helper()
	netnstest.RequireRoot(t)
	topo, err := demo.NewTopology(context.Background(), demo.Options{Prefix: "pl-cli"})
	if err != nil {
		t.Fatalf("build topology: %v", err)
	}
	t.Cleanup(func() { topo.Close() })
	chain, err := demo.LoadChain(demo.ChainOptions{NetnsPath: topo.Node.Path, Ifindex: topo.PodA.NodeIfindex, Legacy: true})
	if err != nil {
		t.Fatalf("load chain: %v", err)
	}
	t.Cleanup(func() { chain.Close() })
	return topo, chain
}

// runIn runs pktlife under ip netns exec NS and returns its exit code and
// output.
func runIn(t *testing.T, netns string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", netns, binary}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String(), errb.String() + errString(err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	if _, ok := err.(*exec.ExitError); ok {
		return ""
	}
	return err.Error()
}

// TestInterposeFromAnyMountNamespace is the user's path of issue 11: one
// pktlife interposes from the host with --netns; a second one under
// ip netns exec exits 2 naming the first; the first is SIGKILLed and
// cleanup under ip netns exec restores its slots.
func TestInterposeFromAnyMountNamespace(t *testing.T) {
	topo, chain := chainNode(t)
	parent, err := os.MkdirTemp("/run", "pktlife-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	bpffs := filepath.Join(parent, "bpffs")
	os.Mkdir(bpffs, 0o700)
	if err := unix.Mount("bpf", bpffs, "bpf", 0, "mode=0700"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(bpffs, unix.MNT_DETACH) })
	state := filepath.Join(bpffs, "pktlife")
	before := chainSlots(t, chain)

	first, _, _ := startTrace(t, "--netns", topo.Node.Path, "--tail-calls=interpose", "--state-dir", state)
	if got := chainSlots(t, chain); got == before {
		t.Fatal("the first pktlife did not interpose")
	}
	code, _, stderr := runIn(t, topo.Node.Name, "trace", "--tail-calls=interpose", "--state-dir", state)
	t.Logf("second: exit %d: %s", code, strings.TrimSpace(stderr))
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, fmt.Sprintf("another pktlife is interposing tail calls: pid %d (pktlife) since ", first.Process.Pid)) ||
		!strings.Contains(stderr, "from the node's mount namespace") {
		t.Errorf("second pktlife: exit %d, %q; want exit 2 and one line naming pid %d", code, stderr, first.Process.Pid)
	}
	first.Process.Kill()
	first.Wait()

	code, stdout, stderr := runIn(t, topo.Node.Name, "cleanup", "--state-dir", state)
	t.Logf("cleanup: exit %d: %s", code, strings.TrimSpace(stdout))
	if code != 0 || !strings.Contains(stdout, "restored 4 tail-call slot(s) left interposed by pktlife pid "+fmt.Sprint(first.Process.Pid)) {
		t.Errorf("cleanup under ip netns exec: exit %d, %q %q", code, stdout, stderr)
	}
	if got := chainSlots(t, chain); got != before {
		t.Errorf("slots after cleanup %s, before %s", got, before)
	}
	if ents, _ := os.ReadDir(bpffs); len(ents) > 2 { // maps.debug, progs.debug
		t.Errorf("left in the bpffs: %v", ents)
	}
	if code, _, stderr := runIn(t, topo.Node.Name, "cleanup", "--state-dir", state); code != 0 {
		t.Errorf("a second cleanup: exit %d: %s", code, stderr)
	}

	// Where the node has no bpffs for the default state directory, a
	// pktlife in a private mount namespace refuses instead of pinning
	// where the pins would die with it.
	if !isBPFFS("/sys/fs/bpf") && !isBPFFS("/run/pktlife/bpffs") {
		code, _, stderr := runIn(t, topo.Node.Name, "trace", "--tail-calls=interpose")
		t.Logf("default state under ip netns exec: exit %d: %s", code, strings.TrimSpace(stderr))
		if code != 2 || !strings.Contains(stderr, "no bpffs that outlives pktlife") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("exit %d, %q; want exit 2 and one line saying why", code, stderr)
		}
		if got := chainSlots(t, chain); got != before {
			t.Errorf("the refused start changed the slots: %s, before %s", got, before)
		}
	}
}

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

// chainSlots shows the chain's prog_arrays' contents.
func chainSlots(t *testing.T, c *demo.Chain) string {
	t.Helper()
	var b strings.Builder
	for _, m := range []interface {
		Lookup(key, value any) error
		MaxEntries() uint32
	}{c.Objects.ChainJmpA, c.Objects.ChainJmpB} {
		for i := range m.MaxEntries() {
			var id uint32
			m.Lookup(i, &id)
			fmt.Fprintf(&b, "%d ", id)
		}
		b.WriteString("| ")
	}
	return b.String()
}

// TestCleanupLeavesLiveTracer: cleanup run while a pktlife traces with
// legacy tc filters leaves them, naming their owner; after that one is
// killed, cleanup removes them.
func TestCleanupLeavesLiveTracer(t *testing.T) {
	netnstest.RequireRoot(t)
	a, b := pair(t)
	cmd, _, _ := startTrace(t, "--netns", a.Path, "--netns", b.Path, "--legacy-tc", "--proto", "udp")
	code, stdout, stderr := runCLI(t, nil, "cleanup")
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("pid %d, a running pktlife, holds it", cmd.Process.Pid)) {
		t.Errorf("cleanup beside a live tracer: exit %d, %q %q", code, stdout, stderr)
	}
	if got := observers(t, a); len(got) == 0 {
		t.Fatal("cleanup removed a live tracer's observers")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if code, stdout, _ := runCLI(t, nil, "cleanup"); code != 0 || !strings.Contains(stdout, "removed pktlife tc observer from va") {
		t.Errorf("cleanup after the kill: exit %d, %q", code, stdout)
	}
	if got := observers(t, a); len(got) != 0 {
		t.Errorf("left after cleanup: %v", got)
	}
}

// TestSocketHopsUnderIPNetnsExec: ip netns exec remounts /sys, so the
// cgroup v2 hierarchy is not mounted in its mount namespace; the socket
// hops attach to the node's cgroup v2 root all the same.
func TestSocketHopsUnderIPNetnsExec(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t, "plcg")
	code, stdout, stderr := runIn(t, ns.Name, "hops", "-o", "json")
	if code != 0 {
		t.Fatalf("hops under ip netns exec: exit %d: %s", code, stderr)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var h struct {
			Name, Mechanism string
			Supported       bool
		}
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			t.Fatalf("decode %q: %v", l, err)
		}
		if h.Supported {
			got[h.Name] = h.Mechanism
		}
	}
	for _, hop := range []string{"sock_send", "sock_deliver"} {
		if got[hop] != "cgroup_skb" {
			t.Errorf("%s under ip netns exec: mechanism %q, want cgroup_skb\n%s", hop, got[hop], stdout)
		}
	}
}
