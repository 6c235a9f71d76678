package render

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"

	"github.com/pktlife/pktlife/check"
)

// The three outputs of `pktlife check`, side by side: text for people,
// one JSON document for programs, JUnit XML for CI. The text's layout is
// in check_text.go, the XML's document in check_junit.go.

// WriteCheck writes a check report for people: one PASS or FAIL line per
// probe and packet, and for each failure its first divergence, the other
// differences, and the expected and actual paths side by side with the
// divergence marked. With o.Verbose passing paths are drawn too.
func WriteCheck(w io.Writer, r *check.Report, o Options) error {
	out := writer{}
	if o.Color {
		out.pal = newPalette()
	}
	for i := range r.Probes {
		p := &r.Probes[i]
		for k := range p.Results {
			writeResult(&out, p, &p.Results[k], o)
		}
	}
	pass, fail := r.Counts()
	var l line
	l.add("pktlife check: ", sDim)
	l.add(strconv.Itoa(pass)+" passed", pick(pass > 0, sGood, sDim))
	l.add(", ", sDim)
	l.add(strconv.Itoa(fail)+" failed", pick(fail > 0, sBad, sDim))
	if r.Spec != "" {
		l.add(" · "+sanitize(r.Spec), sDim)
	}
	if r.Duration > 0 {
		l.add(" · "+fmtDur(r.Duration.Round(10e6)), sDim)
	}
	out.line(l)
	out.newline()
	if _, err := w.Write(out.b); err != nil {
		return fmt.Errorf("write check report: %w", err)
	}
	return nil
}

// WriteCheckJSON writes a check report as one indented JSON document: per
// probe, per expectation, pass, failures (the first is the first
// divergence), the expected steps, the alignment rows and the journey
// itself (in the format of docs/json-schema.md).
func WriteCheckJSON(w io.Writer, r *check.Report) error {
	type out struct {
		Passed bool `json:"passed"`
		Pass   int  `json:"pass"`
		Fail   int  `json:"fail"`
		*check.Report
	}
	p, f := r.Counts()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out{r.Passed(), p, f, r}); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteCheckJUnit writes a check report as JUnit XML, as CI systems read
// it: one testsuite for the spec, one testcase per probe and packet. The
// body of a failure is the text output's side-by-side diff, without
// colour, junitWidth cells wide.
func WriteCheckJUnit(w io.Writer, r *check.Report) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitDocument(r)); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}
