package render

import (
	"encoding/xml"
	"fmt"

	"github.com/pktlife/pktlife/check"
)

// junitWidth is the width of the side-by-side diff in a JUnit failure.
const junitWidth = 120

// The JUnit XML document WriteCheckJUnit encodes.
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

// junitDocument is the report as JUnit: one suite for the spec, one case
// per probe and packet.
func junitDocument(r *check.Report) junitSuites {
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
				c.Failure = &junitFailure{Message: f.Message, Type: f.Kind, Text: checkDetail(p, res, junitWidth)}
				suite.Fails++
			}
			suite.Tests++
			suite.Cases = append(suite.Cases, c)
		}
	}
	return junitSuites{Name: "pktlife", Tests: suite.Tests, Fails: suite.Fails, Time: suite.Time, Suites: []junitSuite{suite}}
}

func seconds(s float64) string { return fmt.Sprintf("%.6f", s) }
