package trace_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/pktlife/pktlife/demo"
	"github.com/pktlife/pktlife/trace"
)

// TestNetnsLabels names pod A's namespace by its address, as the kubectl
// plugin names pods; the other namespaces keep their /run/netns names.
func TestNetnsLabels(t *testing.T) {
	topo := demoSetup(t, false)
	tr, err := trace.New(trace.Options{
		Filter:      trace.Filter{Host: netip.PrefixFrom(topo.PodA.IP(), 32)},
		Netns:       demoNetns(topo),
		NetnsLabels: map[netip.Addr]string{topo.PodA.IP(): "shop/client"},
	})
	if err != nil {
		t.Fatalf("new tracer: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	names, _ := recordWhile(t, tr, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := demo.UDPRoundTrip(ctx, topo.PodA.Path, topo.Service, []byte("udp")); err != nil {
			t.Errorf("udp round trip: %v", err)
		}
	})
	seen := map[string]bool{}
	for _, d := range names.Devices {
		seen[d.NetnsName] = true
	}
	if !seen["shop/client"] {
		t.Errorf("namespaces %v: pod A's is not named shop/client", seen)
	}
	for _, n := range []demo.Netns{topo.Node, topo.PodB.Netns} {
		if !seen[n.Name] {
			t.Errorf("namespaces %v: %s lost its name", seen, n.Name)
		}
	}
}
