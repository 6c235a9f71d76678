// Package check holds pktlife's path specs: what packets to send and the
// journey each must take (hop patterns with gaps, tail-call chains, NAT,
// fate and latency budgets). It parses and validates specs with errors that
// point at file:line:col, matches recorded journeys against them, explains
// the first divergence in a Report, and turns observed journeys back into
// specs. It touches no kernel: check/runner sends the probes and traces
// them, and render writes a Report as text, JSON or JUnit XML.
package check
