package render

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pktlife/pktlife/trace/journey"
)

// The page in Debian's headless Chromium: the script runs without errors
// and marks the page ready with what it found, and the screenshot matches
// the committed reference.
//
// Screenshots differ between machines in how fonts are hinted and
// anti-aliased, so the comparison is loose: the screenshot must have the
// reference's size, and the page is compared in 8×8-pixel blocks by mean
// luminance; a block differs when its mean moved by more than 24 of 255
// levels, and at most 4% of the blocks that hold anything (are darker
// than the background in either image) may differ. A missing row, a lane in
// the wrong place, a lost colour or a blank page moves far more than that;
// a font one pixel wider does not. `go test ./render -run Browser -update`
// rewrites the reference after an intended change.

const (
	shotWidth, shotHeight = 1400, 1500
	shotBlock             = 8
	shotLevels            = 24
	shotMaxDiffer         = 0.04
	shotRef               = "all.chromium.png"
)

// chromium finds Debian's chromium; make test installs it (deps-test) and
// sets PKTLIFE_REQUIRE_TOOLS, so that there it must be found.
func chromium(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("PKTLIFE_REQUIRE_TOOLS") != "" {
		t.Fatal("chromium not found (Debian package chromium; make deps-test installs it)")
	}
	t.Skip("chromium not found: apt-get install chromium, or run make test")
	return ""
}

// runChromium runs headless Chromium on the page with a private profile
// and no network services.
func runChromium(t *testing.T, bin, page string, args ...string) (stdout, stderr string) {
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.Command(bin, append(append(base, args...), "file://"+page)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

// checkBrowserDOM checks the page chromium loaded: ready with every journey
// and hop, no script error.
func checkBrowserDOM(t *testing.T, dom, logs string, js []*journey.Journey) {
	t.Helper()
	hops := 0
	for _, j := range js {
		hops += len(j.Hops)
	}
	if !strings.Contains(dom, `data-ready="journeys=8 `) || !strings.Contains(dom, "hops="+strconv.Itoa(hops)+`"`) {
		t.Errorf("the page's script did not mark it ready with 8 journeys and %d hops:\n%.2000s", hops, dom)
	}
	if strings.Contains(dom, "js-error") && strings.Contains(dom, `id="js-error"`) {
		t.Errorf("the page reported a script error:\n%.2000s", dom)
	}
	for _, bad := range []string{"Uncaught", "SyntaxError", "ReferenceError", "TypeError"} {
		if strings.Contains(logs, bad) {
			t.Errorf("chromium logged %q:\n%s", bad, logs)
		}
	}
}

func TestHTMLBrowser(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "all.html")
	js := allJourneys()
	if err := os.WriteFile(page, renderHTML(t, js...), 0o644); err != nil {
		t.Fatal(err)
	}

	dom, logs := runChromium(t, bin, page, "--dump-dom")
	checkBrowserDOM(t, dom, logs, js)

	shot := filepath.Join(dir, "shot.png")
	runChromium(t, bin, page, "--screenshot="+shot, "--window-size="+strconv.Itoa(shotWidth)+","+strconv.Itoa(shotHeight))
	got := decodePNG(t, shot)
	if *update {
		b, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(goldenDir, shotRef), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if out := os.Getenv("PKTLIFE_SCREENSHOT"); out != "" { // keep it for a person to look at
		b, _ := os.ReadFile(shot)
		os.WriteFile(out, b, 0o644)
	}
	want := decodePNG(t, filepath.Join(goldenDir, shotRef))
	if got.Bounds() != want.Bounds() {
		t.Fatalf("screenshot is %v, the reference %v", got.Bounds(), want.Bounds())
	}
	if ink := inked(got); ink < 0.05 {
		t.Errorf("screenshot is nearly blank: %.1f%% of blocks hold anything", 100*ink)
	}
	if d := blockDiff(got, want); d > shotMaxDiffer {
		t.Errorf("%.1f%% of inked 8×8 blocks differ from the reference (at most %.0f%%); look at PKTLIFE_SCREENSHOT=/tmp/x.png", 100*d, 100*shotMaxDiffer)
	} else {
		t.Logf("%.2f%% of inked blocks differ from the reference", 100*d)
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open screenshot (go test ./render -run Browser -update writes the reference): %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// blockLum returns the mean luminance (0-255) of each block.
func blockLum(img image.Image) []float64 {
	b := img.Bounds()
	var out []float64
	for y := b.Min.Y; y+shotBlock <= b.Max.Y; y += shotBlock {
		for x := b.Min.X; x+shotBlock <= b.Max.X; x += shotBlock {
			var sum float64
			for dy := range shotBlock {
				for dx := range shotBlock {
					r, g, bl, _ := img.At(x+dx, y+dy).RGBA()
					sum += (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
				}
			}
			out = append(out, sum/(shotBlock*shotBlock))
		}
	}
	return out
}

// blockDiff is the fraction of inked blocks (darker than the background in
// either image) whose mean luminance differs by more than shotLevels.
func blockDiff(a, b image.Image) float64 {
	la, lb := blockLum(a), blockLum(b)
	n, inked := 0, 0
	for i := range la {
		if la[i] < 240 || lb[i] < 240 {
			inked++
		}
		if d := la[i] - lb[i]; d > shotLevels || d < -shotLevels {
			n++
		}
	}
	return float64(n) / float64(max(inked, 1))
}

// inked is the fraction of blocks darker than the page's background.
func inked(img image.Image) float64 {
	l := blockLum(img)
	n := 0
	for _, v := range l {
		if v < 240 {
			n++
		}
	}
	return float64(n) / float64(len(l))
}
