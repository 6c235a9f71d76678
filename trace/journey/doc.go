// Package journey turns a stream of per-hop events into journeys: one
// journey per packet, its hops in order, the NAT it went through and how it
// ended. Two stages do it: the Correlator groups events by numbers and time,
// and the Annotator names and infers what those numbers mean; New composes
// them. It is pure Go — no kernel, no terminal — so it is tested against
// recorded event streams, and both the tracer and the renderers share its
// types.
package journey
