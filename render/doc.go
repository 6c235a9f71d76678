// Package render turns journeys (trace/journey.Journey) into output: a
// coloured terminal timeline, one block per packet, and NDJSON, one journey
// per line, whose schema docs/json-schema.md documents; pcapng with a frame
// and a comment per hop (pcap.go, on render/pcapng); and one self-contained
// HTML page with a waterfall per journey (html.go). It also draws the
// tc programs and tail-call graph of trace/progs, and writes the three
// outputs of a check report (text, JSON and JUnit XML, in check.go).
// Renderers only read journeys and graphs; they know nothing about how the
// tracer attaches, discovers or correlates.
package render
