// Package check holds pktlife's path specs: what packets to send and the
// journey each must take (hop patterns with gaps, tail-call chains, NAT,
// fate and latency budgets). It parses and validates specs with errors that
// point at file:line:col, matches recorded journeys against them, explains
// the first divergence, writes JUnit XML, and turns observed journeys back
// into specs. It touches no kernel: check/run sends the probes and traces
// them.
package check
