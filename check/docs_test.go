package check

import (
	"os"
	"strings"
	"testing"
)

// TestDocsExamples parses every spec in docs/check.md's YAML blocks that
// starts with "version:", so that the documented examples stay valid.
func TestDocsExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/check.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(block, "```")
		if !strings.HasPrefix(body, "version:") {
			continue
		}
		n++
		if _, err := Parse("docs/check.md", []byte(body)); err != nil {
			t.Errorf("example %d does not parse: %v", n, err)
		}
	}
	if n == 0 {
		t.Error("no spec example found in docs/check.md")
	}
}
