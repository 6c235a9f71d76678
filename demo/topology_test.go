package demo

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestTopology(t *testing.T) {
	requireRoot(t)
	ctx := testContext(t)
	topo := newTopology(t, Options{})

	inodes := map[uint32]bool{}
	for _, n := range topo.Namespaces() {
		ino, err := n.Inode()
		if err != nil {
			t.Fatal(err)
		}
		inodes[ino] = true
		var link string
		if err := n.Do(func() error {
			var err error
			link, err = os.Readlink("/proc/thread-self/ns/net")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("net:[%d]", ino); link != want {
			t.Errorf("netns %s: inside it /proc/thread-self/ns/net is %s, want %s", n.Name, link, want)
		}
	}
	if len(inodes) != 3 {
		t.Errorf("%d distinct namespaces, want 3", len(inodes))
	}
	for _, p := range []Pod{topo.PodA, topo.PodB} {
		if p.Ifindex <= 0 || p.NodeIfindex <= 0 {
			t.Errorf("pod %s: ifindex %d, node ifindex %d", p.Name, p.Ifindex, p.NodeIfindex)
		}
	}
	// Nothing of it is in the host's namespace.
	for _, name := range []string{PodANodeIf, PodBNodeIf} {
		if _, err := netlink.LinkByName(name); err == nil {
			t.Errorf("link %s exists in the host namespace", name)
		}
	}

	// Without a datapath the node routes between the pods.
	srv, err := StartUDPEcho(ctx, topo.PodB.Path, topo.Backend())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reply, err := UDPRoundTrip(ctx, topo.PodA.Path, topo.Backend(), []byte("routed"))
	if err != nil {
		t.Fatalf("udp round trip pod A -> pod B: %v", err)
	}
	if !bytes.Equal(reply, []byte("routed")) {
		t.Errorf("reply %q, want %q", reply, "routed")
	}
	if d := receive(t, ctx, srv); d.From.Addr() != topo.PodA.IP() {
		t.Errorf("datagram from %s, want pod A %s", d.From, topo.PodA.IP())
	}
}

func TestTopologyClose(t *testing.T) {
	requireRoot(t)
	topo, err := NewTopology(context.Background(), Options{Prefix: "pktlife-demotest"})
	if err != nil {
		t.Fatalf("new topology: %v", err)
	}
	prefix := "pktlife-demotest-" + topo.ID
	if left, _ := ListNetns(prefix); len(left) != 3 {
		t.Errorf("namespaces %v, want 3", left)
	}
	if err := topo.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := topo.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if left, _ := ListNetns(prefix); len(left) != 0 {
		t.Errorf("namespaces left: %v", left)
	}
}

func TestNewTopologyCancelled(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewTopology(ctx, Options{Prefix: "pktlife-democancel"}); err == nil {
		t.Fatal("NewTopology with a cancelled context succeeded")
	}
	if left, _ := ListNetns("pktlife-democancel"); len(left) != 0 {
		t.Errorf("namespaces left after failed setup: %v", left)
	}
}

func TestMaskAddr(t *testing.T) {
	for bits, want := range map[int]string{0: "0.0.0.0", 8: "255.0.0.0", 24: "255.255.255.0", 20: "255.255.240.0", 32: "255.255.255.255"} {
		if got := maskAddr(bits); got != netip.MustParseAddr(want) {
			t.Errorf("maskAddr(%d) = %s, want %s", bits, got, want)
		}
	}
}
