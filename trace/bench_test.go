package trace_test

import (
	"io"
	"os"
	"testing"
	"unsafe"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// loadDemoStream reads the event stream recorded from the demo datapath.
func loadDemoStream(b *testing.B) (*journey.Static, []journey.Event) {
	b.Helper()
	f, err := os.Open("../testdata/streams/demo.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	names, evs, err := journey.ReadStream(f)
	if err != nil {
		b.Fatal(err)
	}
	return names, evs
}

// rawRecords encodes events as the kernel writes them into the ring.
func rawRecords(evs []journey.Event) [][]byte {
	out := make([][]byte, len(evs))
	for i, ev := range evs {
		var k bpf.PktlifeEvent
		k.Ts, k.Skb, k.Hook, k.Flags = ev.Time, uint64(ev.Skb), uint8(ev.Hook), ev.Flags
		k.Netns, k.Ifindex, k.Len, k.Reason = ev.Netns, ev.Ifindex, ev.Len, ev.Reason
		if ev.Tuple.Valid() {
			k.Flags |= journey.FlagTuple
			k.Tuple.Family = 4
			s, d := ev.Tuple.Src.Addr().As4(), ev.Tuple.Dst.Addr().As4()
			copy(k.Tuple.Saddr[:], s[:])
			copy(k.Tuple.Daddr[:], d[:])
			k.Tuple.Sport, k.Tuple.Dport, k.Tuple.Proto = ev.Tuple.Src.Port(), ev.Tuple.Dst.Port(), ev.Tuple.Proto
		}
		b := make([]byte, unsafe.Sizeof(k))
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&k)), len(b)))
		out[i] = b
	}
	return out
}

// BenchmarkDecode measures decoding one ring-buffer record; it must not
// allocate.
func BenchmarkDecode(b *testing.B) {
	_, evs := loadDemoStream(b)
	raws := rawRecords(evs)
	var ev journey.Event
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !trace.Decode(raws[i%len(raws)], &ev) {
			b.Fatal("decode failed")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// replay feeds the demo stream n times, shifting time and skb addresses so
// that every pass is new packets.
func replay(b *testing.B, names *journey.Static, evs []journey.Event, emit func(*journey.Journey)) {
	c := journey.New(journey.Options{Resolver: names, Emit: emit})
	span := evs[len(evs)-1].Time - evs[0].Time + 1_000_000
	ev := journey.Event{}
	for i := 0; i < b.N; i++ {
		pass := uint64(i / len(evs))
		ev = evs[i%len(evs)]
		ev.Time += pass * span
		ev.Skb += journey.Ptr(pass << 20)
		c.Add(&ev)
		if i%len(evs) == len(evs)-1 {
			c.Expire(ev.Time + span)
		}
	}
	c.Flush()
}

// BenchmarkCorrelate measures events per second through the correlator.
func BenchmarkCorrelate(b *testing.B) {
	names, evs := loadDemoStream(b)
	b.ReportAllocs()
	b.ResetTimer()
	replay(b, names, evs, func(*journey.Journey) {})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPipeline measures decode → correlate → render to io.Discard.
func BenchmarkPipeline(b *testing.B) {
	names, evs := loadDemoStream(b)
	for _, out := range []struct {
		name string
		r    render.Renderer
	}{
		{"text", render.NewText(io.Discard, render.Options{})},
		{"json", render.NewJSON(io.Discard)},
	} {
		b.Run(out.name, func(b *testing.B) {
			raws := rawRecords(evs)
			var ev journey.Event
			c := journey.New(journey.Options{Resolver: names, Emit: func(j *journey.Journey) { out.r.Journey(j) }})
			span := evs[len(evs)-1].Time - evs[0].Time + 1_000_000
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				trace.Decode(raws[i%len(raws)], &ev)
				pass := uint64(i / len(raws))
				ev.Time += pass * span
				ev.Skb += journey.Ptr(pass << 20)
				c.Add(&ev)
				if i%len(raws) == len(raws)-1 {
					c.Expire(ev.Time + span)
				}
			}
			c.Flush()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
