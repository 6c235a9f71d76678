// Package render turns journeys (trace/journey.Journey) into output: a
// coloured terminal timeline, one block per packet, and NDJSON, one journey
// per line, whose schema docs/json-schema.md documents. Renderers only read
// journeys; they know nothing about how the tracer attaches or correlates.
package render
