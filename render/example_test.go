package render_test

import (
	"net/netip"
	"os"
	"time"

	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace/journey"
)

func ExampleNewText() {
	t := journey.Tuple{Proto: 17,
		Src: netip.MustParseAddrPort("10.0.0.1:5000"), Dst: netip.MustParseAddrPort("10.0.0.2:53")}
	eth0 := journey.Device{Name: "eth0", Ifindex: 2, Netns: 4026531840, NetnsName: "host"}
	j := &journey.Journey{
		ID: 1, Tuple: t, Duration: 2500 * time.Nanosecond,
		Hops: []journey.Hop{
			{Index: 1, Hook: journey.HookNetifReceiveSkb, Device: eth0, Tuple: t},
			{Index: 2, At: 2500, Delta: 2500, Hook: journey.HookKfreeSkb, Device: eth0, Tuple: t,
				DropReason: "NO_SOCKET"},
		},
		Fate: journey.FateDropped, DropReason: "NO_SOCKET", End: journey.EndFree,
	}
	r := render.NewText(os.Stdout, render.Options{Width: 80})
	defer r.Close()
	if err := r.Journey(j); err != nil {
		panic(err)
	}
	// Output:
	// ● journey 1  udp 10.0.0.1:5000 → 10.0.0.2:53  ✗ dropped: NO_SOCKET
	//   2 hops · 2.5µs
	//   #  +time       Δ  netns  device       hook               detail
	//   1      0       —  host   eth0 (if 2)  netif_receive_skb
	//   2  2.5µs  +2.5µs  host   eth0 (if 2)  kfree_skb          drop NO_SOCKET
}

func ExampleWriteSummary() {
	s := render.Summary{Journeys: 3, Events: 41, Lost: 0, Evicted: 0, Unmatched: 2, Duration: 1500 * time.Millisecond}
	if err := render.WriteSummary(os.Stdout, s, render.Options{}); err != nil {
		panic(err)
	}
	// Output:
	// pktlife: 3 journeys · 41 events · 1.50s · 0 lost · 0 evicted · 2 unmatched
}
