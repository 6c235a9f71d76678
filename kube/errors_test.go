package kube

import (
	"strings"
	"testing"
)

// A node pod's termination message is the tail of its log (journeys on
// stdout, status lines on stderr), cut to 2048 bytes by the kubelet.
func TestNodeExitErrorMessage(t *testing.T) {
	journey := `{"schema":1,"kind":"journey","id":7,"hops":[{"index":1,"hook":"tc-ingress"}],"fate":"unknown","end":"idle"}`
	// What a real kubelet reported for a pktlife killed with SIGKILL
	// mid-trace: the cut end of a journey, nothing else.
	cut := `d":89075,"slot":0,"prog":{"id":25378,"name":"chain_stage_two_finalize"}}]},{"index":7,"hook":"tc-egress"}],"fate":"unknown","end":"idle"}`
	for _, tc := range []struct {
		name string
		e    NodeExitError
		want string
	}{
		{"killed mid-trace, only a cut journey", NodeExitError{Node: "vm", Code: 137, Reason: "Error", Message: cut},
			"pktlife on node vm exited with code 137 (killed by SIGKILL): Error"},
		{"killed, journeys after the status lines", NodeExitError{Node: "vm", Code: 137, Reason: "Error",
			Message: cut + "\n[vm] tracing udp\npktlife: tracing udp host 10.0.0.1/32; Ctrl-C to stop\n" + journey + "\n" + journey},
			"pktlife on node vm exited with code 137 (killed by SIGKILL): pktlife: tracing udp host 10.0.0.1/32; Ctrl-C to stop"},
		{"refused", NodeExitError{Node: "vm", Code: 2, Message: "attached tc\npktlife: interpose tail calls: lock /sys/fs/bpf/pktlife: another pktlife is interposing tail calls\n"},
			"pktlife on node vm exited with code 2 (refused): pktlife: interpose tail calls: lock /sys/fs/bpf/pktlife: another pktlife is interposing tail calls"},
		{"failed after journeys", NodeExitError{Node: "vm", Code: 1, Message: journey + "\npktlife: read ring: boom\n" + journey},
			"pktlife on node vm exited with code 1: pktlife: read ring: boom"},
		{"unknown signal", NodeExitError{Node: "vm", Code: 128 + 7, Reason: "Error"},
			"pktlife on node vm exited with code 135 (killed by signal 7): Error"},
		{"deadline before start", NodeExitError{Node: "vm", Code: -1, Reason: "DeadlineExceeded", Message: "Pod was active on the node longer than the specified deadline"},
			"pktlife on node vm exited with code -1: Pod was active on the node longer than the specified deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.e.Error()
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if strings.Contains(got, `":`) {
				t.Errorf("journey JSON in the error: %q", got)
			}
		})
	}
	if s, ok := (&NodeExitError{Code: 143}).Signal(); !ok || s != "SIGTERM" {
		t.Errorf("Signal of 143: %q %v", s, ok)
	}
	if _, ok := (&NodeExitError{Code: 2}).Signal(); ok {
		t.Error("Signal of 2: ok")
	}
}
