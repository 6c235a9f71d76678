package main

import (
	"strings"
	"testing"

	"github.com/pktlife/pktlife/kube"
)

// A node pod's pktlife killed with SIGKILL while it interposed (as `kill -9`
// of its host PID does on a real node): the error says it was killed, holds
// no journey JSON, and the user learns how to restore the node.
func TestTraceKilledWhileInterposing(t *testing.T) {
	cut := `d":89075,"slot":0,"prog":{"id":25378,"name":"chain_stage_two_finalize"}}]}],"fate":"unknown","end":"idle"}`
	killed := &kube.NodeExitError{Node: "node-a", Code: 137, Reason: "Error", Message: cut}
	for _, tc := range []struct {
		args     []string
		fail     error
		wantHint string // "" for none
	}{
		{[]string{"--tail-calls=interpose", "--image", "local/pktlife:dev", "--image-pull-policy", "Never"}, killed,
			"kubectl-pktlife: pktlife on node node-a was killed by SIGKILL while it interposed on tail calls: its shims keep the datapath working until the original programs are put back with: kubectl pktlife cleanup -n shop --node node-a --image local/pktlife:dev --image-pull-policy Never\n"},
		{[]string{"--tail-calls=interpose", "--node-namespace", "kube-system"}, killed,
			"put back with: kubectl pktlife cleanup -n kube-system --node node-a\n"},
		{[]string{"--tail-calls=passive"}, killed, ""},
		{[]string{"--tail-calls=interpose"}, &kube.NodeExitError{Node: "node-a", Code: 2, Message: "pktlife: interpose tail calls: lock /sys/fs/bpf/pktlife: another pktlife is interposing tail calls"}, ""},
	} {
		rs := &nodeRunners{out: map[string]string{"node-a": "attached tail-calls         4 prog_array slot(s) in 2 map(s) (interpose)\n"},
			fail: map[string]error{"node-a": tc.fail}}
		code, _, errs := executeWith(t, cluster(), rs.new, append([]string{"trace", "client"}, tc.args...)...)
		if code != 1 || rs.deleted != 1 {
			t.Errorf("%q: exit %d, %d pods deleted; want 1, 1", tc.args, code, rs.deleted)
		}
		if strings.Contains(errs, `":`) {
			t.Errorf("%q: journey JSON in stderr:\n%s", tc.args, errs)
		}
		hinted := strings.Contains(errs, "while it interposed on tail calls")
		if tc.wantHint == "" && hinted || tc.wantHint != "" && !strings.Contains(errs, tc.wantHint) {
			t.Errorf("%q: stderr\n%s\nwant hint %q", tc.args, errs, tc.wantHint)
		}
		if tc.fail == killed && !strings.Contains(errs, "error: pktlife on node node-a exited with code 137 (killed by SIGKILL): Error\n") {
			t.Errorf("%q: stderr lacks the killed error:\n%s", tc.args, errs)
		}
	}
}
