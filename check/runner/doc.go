// Package runner carries out path specs on this machine: it builds the demo
// topology when a spec asks for it, starts the listeners, attaches the
// tracer (trace.New returns once everything is attached), sends each probe,
// waits for its journeys as the tracer's counters say, and compares them
// (Check) or writes them down (Record).
package runner
