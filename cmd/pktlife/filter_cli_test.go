package main

import (
	"strings"
	"syscall"
	"testing"

	"github.com/pktlife/pktlife/internal/netnstest"
)

// TestTraceExpression traces with an expression given as several
// arguments, as tcpdump takes it, and real datagrams: the one it selects
// is printed, the ones it excludes are not.
func TestTraceExpression(t *testing.T) {
	netnstest.RequireRoot(t)
	a, b := pair(t)
	cmd, out, _ := startTrace(t, "--netns", a.Path, "--netns", b.Path,
		"udp", "and", "dst", "port", "7102", "and", "not", "(src", "port", "7103", "or", "dst", "host", "10.98.0.1)")
	for _, port := range []string{"7101", "7102"} {
		if !udpWorks(t, a, b, port) {
			t.Fatalf("datagram to %s did not arrive", port)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("pktlife: %v", err)
	}
	if !strings.Contains(out.String(), "10.98.0.2:7102") {
		t.Errorf("the datagram to 7102 was not traced:\n%s", out.String())
	}
	if strings.Contains(out.String(), ":7101") {
		t.Errorf("the datagram to 7101 was traced, but the expression excludes it:\n%s", out.String())
	}
}
