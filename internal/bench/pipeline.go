package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"github.com/pktlife/pktlife/bpf"
	"github.com/pktlife/pktlife/render"
	"github.com/pktlife/pktlife/trace"
	"github.com/pktlife/pktlife/trace/journey"
)

// Stream is a recorded event stream prepared for replay: its names, and
// each event as the kernel writes it into the ring.
type Stream struct {
	Names  *journey.Static
	Events []journey.Event
	Raw    [][]byte
	span   uint64 // kernel time one pass takes, plus a gap
}

// LoadStream reads a recorded stream (testdata/streams/*.ndjson).
func LoadStream(path string) (*Stream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	defer f.Close()
	names, evs, err := journey.ReadStream(f)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("load stream %s: no events", path)
	}
	s := &Stream{Names: names, Events: evs, Raw: make([][]byte, len(evs))}
	for i := range evs {
		s.Raw[i] = encode(&evs[i])
	}
	s.span = evs[len(evs)-1].Time - evs[0].Time + 1_000_000
	return s, nil
}

// encode writes ev as the kernel's struct event.
func encode(ev *journey.Event) []byte {
	var k bpf.PktlifeEvent
	k.Ts, k.Skb, k.Hook, k.Flags, k.Cpu = ev.Time, uint64(ev.Skb), uint8(ev.Hook), ev.Flags, ev.CPU
	k.Netns, k.Ifindex, k.Len, k.Mark, k.Reason = ev.Netns, ev.Ifindex, ev.Len, ev.Mark, ev.Reason
	k.ProgId, k.MapId, k.Slot = ev.ProgID, ev.MapID, ev.Slot
	if t := ev.Tuple; t.Valid() {
		k.Flags |= journey.FlagTuple
		k.Tuple.Proto, k.Tuple.IpId, k.Tuple.TcpFlags = t.Proto, t.IPID, t.TCPFlags
		k.Tuple.Sport, k.Tuple.Dport = t.Src.Port(), t.Dst.Port()
		if t.Src.Addr().Is4() {
			k.Tuple.Family = 4
			s, d := t.Src.Addr().As4(), t.Dst.Addr().As4()
			copy(k.Tuple.Saddr[:], s[:])
			copy(k.Tuple.Daddr[:], d[:])
		} else {
			k.Tuple.Family = 6
			k.Tuple.Saddr, k.Tuple.Daddr = t.Src.Addr().As16(), t.Dst.Addr().As16()
		}
	}
	b := make([]byte, unsafe.Sizeof(k))
	copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&k)), len(b)))
	return b
}

// Replayer feeds a stream through decode and journey.New — the correlator
// and the annotate stage, as in the tracer — over and over:
// each pass shifts time, skb addresses and IPv4 IDs, so that every pass is new
// packets, and expires the previous pass's journeys as kernel time moves on.
type Replayer struct {
	s    *Stream
	c    *journey.Correlator
	ev   journey.Event
	i    int
	pass uint64
}

// NewReplayer correlates into emit (nil: journeys are dropped, and their
// hop buffers released for reuse, as a consumer that keeps nothing does).
func NewReplayer(s *Stream, emit func(*journey.Journey)) *Replayer {
	if emit == nil {
		emit = (*journey.Journey).Release
	}
	return &Replayer{s: s, c: journey.New(journey.Options{Resolver: s.Names, Emit: emit})}
}

// Next decodes and correlates one event.
func (r *Replayer) Next() {
	trace.Decode(r.s.Raw[r.i], &r.ev)
	r.ev.Time += r.pass * r.s.span
	r.ev.Skb += journey.Ptr(r.pass << 20)
	if id := r.ev.Tuple.IPID; id != 0 {
		// A new IPv4 ID too (never 0, which means none): a packet whose skb
		// the stream never frees would otherwise take each later pass's
		// copy of it as its own, and grow one journey for the whole run.
		r.ev.Tuple.IPID = uint16((uint64(id)-1+r.pass)%0xffff + 1)
	}
	r.c.Add(&r.ev)
	if r.i++; r.i == len(r.s.Raw) {
		r.c.Expire(r.ev.Time + r.s.span)
		r.i = 0
		r.pass++
	}
}

// Flush ends the replay, emitting what is open.
func (r *Replayer) Flush() { r.c.Flush() }

// Correlator is the replayer's correlator, for its stats.
func (r *Replayer) Correlator() *journey.Correlator { return r.c }

// Stage names a part of the user-space pipeline; "correlate" includes the
// annotate stage that journey.New puts after the correlator.
type Stage string

const (
	StageDecode    Stage = "decode"
	StageCorrelate Stage = "decode+correlate"
	StageText      Stage = "decode+correlate+text"
	StageJSON      Stage = "decode+correlate+json"
)

// Stages are the pipeline benchmarks, cheapest first.
var Stages = []Stage{StageDecode, StageCorrelate, StageText, StageJSON}

// PipelineFunc returns the benchmark of a stage: b.N events of the stream
// through it, with events/s reported.
func PipelineFunc(s *Stream, st Stage) func(b *testing.B) {
	return func(b *testing.B) {
		var r render.Renderer
		switch st {
		case StageText:
			r = render.NewText(io.Discard, render.Options{})
		case StageJSON:
			r = render.NewJSON(io.Discard)
		}
		b.ReportAllocs()
		cpu0 := cpuTime()
		if st == StageDecode {
			var ev journey.Event
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !trace.Decode(s.Raw[i%len(s.Raw)], &ev) {
					b.Fatal("decode failed")
				}
			}
		} else {
			var emit func(*journey.Journey)
			if r != nil {
				// as the CLI does: write the journey, then release it
				emit = func(j *journey.Journey) {
					if err := r.Journey(j); err != nil {
						b.Fatal(err)
					}
					j.Release()
				}
			}
			rp := NewReplayer(s, emit)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rp.Next()
			}
			rp.Flush()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		// On a shared machine wall time counts other processes' turns
		// too; the process's own CPU time (GC included) does not.
		b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
	}
}

// PipelineResult is one stage's figures.
type PipelineResult struct {
	Stage          Stage
	EventsPerSec   float64 // wall clock
	EventsPerCPU   float64 // per second of the process's CPU time
	AllocsPerEvent float64
	BytesPerEvent  float64
}

// Pipeline runs every stage with Go's benchmark harness on one core
// (GOMAXPROCS 1: the garbage collector shares the core with the pipeline,
// as it does in a tracer on a busy node).
func Pipeline(s *Stream) []PipelineResult {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var out []PipelineResult
	for _, st := range Stages {
		r := testing.Benchmark(PipelineFunc(s, st))
		n := float64(r.N)
		out = append(out, PipelineResult{
			Stage:          st,
			EventsPerSec:   n / r.T.Seconds(),
			EventsPerCPU:   r.Extra["events/cpu-s"],
			AllocsPerEvent: float64(r.MemAllocs) / n,
			BytesPerEvent:  float64(r.MemBytes) / n,
		})
	}
	return out
}
