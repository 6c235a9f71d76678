package kube

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/pktlife/pktlife/trace/journey"
)

// maxLine bounds one journey's JSON line (a journey of hundreds of hops
// with tail calls stays far below it).
const maxLine = 8 << 20

// Decoder splits a node pod's log into journeys and status lines. The log
// API interleaves the tracer's stdout (NDJSON journeys) with its stderr
// (status), line by line, so a line is a journey when it is a JSON object
// with a schema field, and a status line otherwise.
type Decoder struct {
	Node    string                       // set on journeys that name no node
	Journey func(*journey.Journey) error // called for each journey
	Status  func(line string)            // called for each other non-empty line
	warned  bool
}

// Decode reads r to its end. It returns the first error of r or of the
// Journey callback; io.EOF is not an error.
func (d *Decoder) Decode(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		j, ok := d.parse(line)
		if !ok {
			if d.Status != nil {
				d.Status(string(line))
			}
			continue
		}
		if err := d.Journey(j); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read node output: %w", err)
	}
	return nil
}

func (d *Decoder) parse(line []byte) (*journey.Journey, bool) {
	if line[0] != '{' {
		return nil, false
	}
	j := new(journey.Journey)
	if err := json.Unmarshal(line, j); err != nil || j.Schema == 0 {
		return nil, false
	}
	if j.Schema != journey.SchemaVersion && !d.warned && d.Status != nil {
		d.warned = true
		d.Status(fmt.Sprintf("kubectl-pktlife: the node image writes journey schema %d, this plugin reads schema %d: "+
			"use matching versions (--image %s)", j.Schema, journey.SchemaVersion, DefaultImage()))
	}
	if j.Node == "" {
		j.Node = d.Node
	}
	return j, true
}
