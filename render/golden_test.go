package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/pktlife/pktlife/trace/journey"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/render")

const goldenDir = "../testdata/render"

// golden compares got with the named golden file, or rewrites the file
// when -update is given.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenIn(t, goldenDir, name, got)
}

// goldenIn is golden for the files in dir.
func goldenIn(t *testing.T, dir, name string, got []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("create golden dir: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test ./render -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./render -update rewrites it)\n--- got\n%s\n--- want\n%s",
			name, got, want)
	}
}

func renderText(t testing.TB, o Options, js ...*journey.Journey) []byte {
	t.Helper()
	var b bytes.Buffer
	r := NewText(&b, o)
	for _, j := range js {
		if err := r.Journey(j); err != nil {
			t.Fatalf("render text: %v", err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatalf("close text renderer: %v", err)
	}
	return b.Bytes()
}

func renderJSON(t testing.TB, js ...*journey.Journey) []byte {
	t.Helper()
	var b bytes.Buffer
	r := NewJSON(&b)
	for _, j := range js {
		if err := r.Journey(j); err != nil {
			t.Fatalf("render json: %v", err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatalf("close json renderer: %v", err)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			golden(t, f.name+".txt", renderText(t, Options{}, f.journeys...))
			golden(t, f.name+".ansi", renderText(t, Options{Color: true}, f.journeys...))
			golden(t, f.name+".json", renderJSON(t, f.journeys...))
		})
	}
	t.Run("verbose", func(t *testing.T) {
		golden(t, "all.verbose.txt", renderText(t, Options{Verbose: true}, allJourneys()...))
	})
	t.Run("narrow", func(t *testing.T) {
		golden(t, "narrow.txt", renderText(t, Options{Width: 60},
			dnatTailCallDrop(), ipv6SNAT(), kfuncHops()))
	})
}
