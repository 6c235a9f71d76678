package demo

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pktlife/pktlife/bpf/demodp"
)

func TestEnv(t *testing.T) {
	requireRoot(t)
	ctx := testContext(t)
	env, err := Start(ctx, EnvOptions{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	id := env.Topo.ID
	defer env.Close()

	if err := env.SendAll(ctx); err != nil {
		t.Fatalf("send all: %v", err)
	}
	for s, want := range map[demodp.DemoStat]uint64{
		demodp.DemoStatDEMO_STAT_DNAT:        2, // UDP datagram, TCP SYN at least
		demodp.DemoStatDEMO_STAT_REV_NAT:     2,
		demodp.DemoStatDEMO_STAT_POLICY_DROP: 1,
	} {
		eventually(t, ctx, "counter", func() (bool, error) {
			n, err := env.Datapath.Counter(s)
			return n >= want, err
		})
	}
	select {
	case d := <-env.Denied.Received():
		t.Errorf("datagram %q reached the deny port", d.Payload)
	default:
	}
	if err := env.Send(ctx, Flow("nope")); err == nil {
		t.Error("unknown flow sent")
	}

	if err := env.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := env.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if left, _ := ListNetns(DefaultPrefix + "-" + id); len(left) != 0 {
		t.Errorf("namespaces left: %v", left)
	}
}

func TestPing(t *testing.T) {
	requireRoot(t)
	ctx := testContext(t)
	topo := newTopology(t, Options{})
	if _, err := Ping(ctx, topo.PodA.Path, topo.PodB.IP()); err != nil {
		t.Fatalf("ping pod B: %v", err)
	}
	// Nothing answers for an address in pod B's subnet that nobody has.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := Ping(short, topo.PodA.Path, netip.MustParseAddr("10.244.2.99")); err == nil {
		t.Error("ping of an absent address succeeded")
	}
}

func TestInetChecksum(t *testing.T) {
	// An echo request with its checksum filled in sums to zero.
	if got := inetChecksum(echoRequest(0x1234, 7, []byte("odd"))); got != 0 {
		t.Errorf("checksum over a checksummed message = %#x, want 0", got)
	}
}
