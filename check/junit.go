package check

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// JUnit XML, as CI systems read it: one testsuite for the spec, one
// testcase per probe and packet.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Name    string       `xml:"name,attr"`
	Tests   int          `xml:"tests,attr"`
	Fails   int          `xml:"failures,attr"`
	Time    string       `xml:"time,attr"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name  string      `xml:"name,attr"`
	Tests int         `xml:"tests,attr"`
	Fails int         `xml:"failures,attr"`
	Time  string      `xml:"time,attr"`
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML. detail, when not nil, gives
// the body of each failure (the side-by-side diff, without colour).
func (r *Report) WriteJUnit(w io.Writer, detail func(p *ProbeReport, res *Result) string) error {
	suite := junitSuite{Name: "pktlife check " + r.Spec, Time: seconds(r.Duration.Seconds())}
	for i := range r.Probes {
		p := &r.Probes[i]
		for k := range p.Results {
			res := &p.Results[k]
			c := junitCase{Name: p.Name + " (" + string(res.Packet) + " packet)", Classname: "pktlife.check." + p.Name, Time: "0"}
			if res.Journey != nil {
				c.Time = seconds(res.Journey.Duration.Seconds())
				c.SystemOut = "journey " + res.Journey.Tuple.String() + ": " + string(res.Journey.Fate)
			}
			if f := res.FirstDivergence(); f != nil {
				text := ""
				if detail != nil {
					text = detail(p, res)
				} else {
					var msgs []string
					for _, f := range res.Failures {
						msgs = append(msgs, f.Message)
					}
					text = strings.Join(msgs, "\n")
				}
				c.Failure = &junitFailure{Message: f.Message, Type: f.Kind, Text: text}
				suite.Fails++
			}
			suite.Tests++
			suite.Cases = append(suite.Cases, c)
		}
	}
	doc := junitSuites{Name: "pktlife", Tests: suite.Tests, Fails: suite.Fails, Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}

func seconds(s float64) string { return fmt.Sprintf("%.6f", s) }
