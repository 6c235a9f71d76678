package journey

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"
)

func TestHopClasses(t *testing.T) {
	want := []int{4, 6, 8, 12, 16, 24, 32, 48, 64}
	for i, n := range want {
		if got := classHops(i); got != n {
			t.Errorf("class %d holds %d hops, want %d", i, got, n)
		}
	}
	for n := 1; n <= maxPooledHops+1; n++ {
		i := classFor(n)
		if n > maxPooledHops {
			if i != hopClasses {
				t.Errorf("%d hops, over the largest class, got class %d", n, i)
			}
			continue
		}
		if classHops(i) < n || (i > 0 && classHops(i-1) >= n) {
			t.Errorf("%d hops got class %d of %d hops, want the smallest class that fits", n, i, classHops(i))
		}
	}
	if b := getHops(maxPooledHops + 5); cap(b) != maxPooledHops+5 || len(b) != 0 {
		t.Errorf("a buffer over the largest class: len %d cap %d, want 0, %d", len(b), cap(b), maxPooledHops+5)
	}
}

// TestReleaseReuses: journeys written and released as they are emitted
// come out exactly as journeys that are kept, while later journeys take
// their hops from the released buffers.
func TestReleaseReuses(t *testing.T) {
	names, evs := demoStream(t)
	encode := func(release bool) ([]byte, int) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		released := map[*Hop]bool{}
		releasedJ := map[*Journey]bool{}
		reused, reusedJ := 0, 0
		for range 3 {
			c := New(Options{Resolver: names, Emit: func(j *Journey) {
				p := unsafe.SliceData(j.Hops)
				if released[p] {
					reused++
				}
				if releasedJ[j] {
					reusedJ++
				}
				if err := enc.Encode(j); err != nil {
					t.Fatal(err)
				}
				if release {
					released[p], releasedJ[j] = true, true
					j.Release()
					if j.Hops != nil || j.NAT != nil {
						t.Fatalf("journey %d keeps %d hops and %d NATs after Release", j.ID, len(j.Hops), len(j.NAT))
					}
				}
			}})
			for i := range evs {
				c.Add(&evs[i])
			}
			c.Flush()
		}
		if release && reusedJ == 0 {
			t.Errorf("no journey was opened in a released one")
		}
		return buf.Bytes(), reused
	}
	kept, _ := encode(false)
	got, reused := encode(true)
	if !bytes.Equal(kept, got) {
		t.Errorf("released journeys differ from kept ones:\n%s\nwant\n%s", got, kept)
	}
	// sync.Pool may drop what it holds (at a collection; at random under
	// the race detector), but not everything over three passes
	if reused == 0 {
		t.Errorf("no journey reused a released hop buffer")
	}
}

// TestTailCallAfterMerge: a tail call whose tuple merges a copy of the
// packet into the journey (and so sorts and moves its hops, here into a
// bigger buffer) still goes to the tc hop it was made at.
func TestTailCallAfterMerge(t *testing.T) {
	old := tup(17, "10.0.0.1:4000", "10.96.0.10:80", 7)
	dnat := tup(17, "10.0.0.1:4000", "10.244.2.2:8080", 7)
	var b builder
	// a copy seen first, and earlier, under the tuple the chain makes
	for _, h := range []Hook{HookNetifRx, HookNetifReceiveSkb, HookNetDevQueue, HookConsumeSkb} {
		b.add(0xb, h, 3, dnat, 0)
	}
	b.add(0xa, HookTCIngress, 2, old, 0)
	b.add(0xa, HookTailCall, 2, dnat, 0)
	b.evs[len(b.evs)-1].ProgID, b.evs[len(b.evs)-1].MapID = 9, 3
	b.add(0xa, HookTCEgress, 3, dnat, 0)
	js := run(b.evs, Options{})
	if len(js) != 1 {
		t.Fatalf("%d journeys, want the copy merged into one", len(js))
	}
	j := js[0]
	if got := hooks(j); got != "netif_rx,netif_receive_skb,net_dev_queue,consume_skb,tc-ingress,tc-egress" {
		t.Fatalf("hops %s", got)
	}
	for i, h := range j.Hops {
		want := 0
		if h.Hook == HookTCIngress {
			want = 1
		}
		if len(h.TailCalls) != want {
			t.Errorf("hop %d (%s) has %d tail calls, want %d", i+1, h.Hook, len(h.TailCalls), want)
		}
	}
}

// TestReleaseRandom: random event streams (few skbs and flows, so that
// addresses are reused, copies merge, NATs and deliveries happen, timers
// and the in-flight cap close journeys) give the same journeys whether each
// is released once written or kept.
func TestReleaseRandom(t *testing.T) {
	hooks := []Hook{HookTCIngress, HookTCEgress, HookNetifRx, HookNetDevXmit, HookKfreeSkb,
		HookConsumeSkb, HookSockDeliver, HookTailCall, HookProgExit, HookSockSend}
	flows := []Tuple{
		tup(17, "10.0.0.1:4000", "10.96.0.10:80", 7),
		tup(17, "10.0.0.1:4000", "10.244.2.2:8080", 7),
		tup(6, "10.0.0.9:5000", "10.0.0.8:80", 9),
		tup(6, "10.0.0.8:80", "10.0.0.9:5000", 9),
		{},
	}
	for seed := uint64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		evs := make([]Event, 3000)
		ts := uint64(1e9)
		for i := range evs {
			ts += uint64(rng.IntN(300_000))
			tu := flows[rng.IntN(len(flows))]
			tu.IPID = uint16(1 + rng.IntN(3))
			evs[i] = Event{Time: ts, Skb: Ptr(0xa0 + rng.IntN(6)), Hook: hooks[rng.IntN(len(hooks))],
				Netns: 1, Ifindex: uint32(1 + rng.IntN(3)), Reason: uint32(rng.IntN(3)), ProgID: uint32(rng.IntN(2)),
				Tuple: tu, Flags: FlagTuple | FlagL4}
			if !tu.Valid() {
				evs[i].Flags = 0
			}
		}
		replay := func(release bool) []byte {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			c := New(Options{MaxInFlight: 4, Idle: 5 * time.Millisecond, Emit: func(j *Journey) {
				if err := enc.Encode(j); err != nil {
					t.Fatal(err)
				}
				if release {
					j.Release()
				}
			}})
			for i := range evs {
				c.Add(&evs[i])
				if i%7 == 0 {
					c.Expire(evs[i].Time)
				}
			}
			c.Flush()
			return buf.Bytes()
		}
		kept, released := replay(false), replay(true)
		if !bytes.Equal(kept, released) {
			t.Fatalf("seed %d: released journeys differ from kept ones", seed)
		}
	}
}
