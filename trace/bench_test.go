package trace_test

import (
	"testing"

	"github.com/pktlife/pktlife/internal/bench"
)

// The user-space pipeline's benchmarks live in internal/bench, which make
// bench runs; these are the trace package's own stages, on the stream
// recorded from the demo datapath.

func loadDemoStream(b *testing.B) *bench.Stream {
	b.Helper()
	s, err := bench.LoadStream("../testdata/streams/demo.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkDecode measures decoding one ring-buffer record; it must not
// allocate.
func BenchmarkDecode(b *testing.B) {
	bench.PipelineFunc(loadDemoStream(b), bench.StageDecode)(b)
}

// BenchmarkCorrelate measures events per second through decode and the
// correlator.
func BenchmarkCorrelate(b *testing.B) {
	bench.PipelineFunc(loadDemoStream(b), bench.StageCorrelate)(b)
}

// BenchmarkPipeline measures decode → correlate → render to io.Discard.
func BenchmarkPipeline(b *testing.B) {
	s := loadDemoStream(b)
	b.Run("text", bench.PipelineFunc(s, bench.StageText))
	b.Run("json", bench.PipelineFunc(s, bench.StageJSON))
}
