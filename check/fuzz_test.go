package check

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseSpec feeds arbitrary bytes to the parser. It must never panic;
// every error must be an Errors of positioned ErrInvalid errors; and a spec
// it accepts must survive Format and Parse unchanged.
func FuzzParseSpec(f *testing.F) {
	files, _ := filepath.Glob("../testdata/check/*.yaml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("probes: [{proto: udp, to: \"1.2.3.4:5\", expect: {path: [..., {hook: tc, chain: [\"[m/1] p\", ...]}]}}]\n"))
	f.Add([]byte("probes:\n  - proto: icmp\n    to: ::1\n    expect: {total: 1ms, path: [{budget: 2ms}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		out, err := Format(s, "")
		if err != nil {
			t.Fatalf("format an accepted spec: %v", err)
		}
		back, err := Parse("fuzz-out.yaml", out)
		if err != nil {
			t.Fatalf("formatted spec does not parse: %v\n--- input\n%s\n--- formatted\n%s", err, data, out)
		}
		if d := specDiff(s, back); d != "" {
			t.Fatalf("round trip: %s\n--- input\n%s\n--- formatted\n%s", d, data, out)
		}
	})
}
