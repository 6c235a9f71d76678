package bench

import (
	"testing"
)

const demoStream = "../../testdata/streams/demo.ndjson"

func loadDemo(tb testing.TB) *Stream {
	tb.Helper()
	s, err := LoadStream(demoStream)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkPipeline measures events per second through each stage of the
// user-space pipeline on the stream recorded from the demo datapath.
func BenchmarkPipeline(b *testing.B) {
	s := loadDemo(b)
	for _, st := range Stages {
		b.Run(string(st), PipelineFunc(s, st))
	}
}
