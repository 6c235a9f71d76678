package render

import (
	"io"
	"testing"
)

func benchRender(b *testing.B, r Renderer) {
	js := allJourneys()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := r.Journey(js[i%len(js)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "journeys/s")
}

func BenchmarkTextRender(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchRender(b, NewText(io.Discard, Options{})) })
	b.Run("color", func(b *testing.B) { benchRender(b, NewText(io.Discard, Options{Color: true})) })
	b.Run("verbose", func(b *testing.B) { benchRender(b, NewText(io.Discard, Options{Verbose: true})) })
}

func BenchmarkJSONRender(b *testing.B) { benchRender(b, NewJSON(io.Discard)) }
