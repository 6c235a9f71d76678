package main

import (
	"slices"
	"testing"
	"time"
)

func TestTestTimeout(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{"-test.paniconexit0", "-test.timeout=10m0s"}, 10*time.Minute + 50*time.Second},
		{[]string{"-test.timeout", "90s", "-test.v"}, 140 * time.Second},
		{[]string{"-test.timeout=0s"}, 30 * time.Minute}, // no timeout in the test: ours
		{nil, 30 * time.Minute},
	} {
		if got := testTimeout(tc.args); got != tc.want {
			t.Errorf("testTimeout(%q) = %s, want %s", tc.args, got, tc.want)
		}
	}
}

func TestForwardedEnv(t *testing.T) {
	t.Setenv("PKTLIFE_FOO", "1")
	t.Setenv("PKTLIFE_VM", "host")
	t.Setenv("PKTLIFE_VM_KERNEL", "6.1")
	t.Setenv("GOTRACEBACK", "all")
	t.Setenv("HOME", "/root")
	env := forwardedEnv()
	for _, kv := range []string{"PKTLIFE_FOO=1", "GOTRACEBACK=all"} {
		if !slices.Contains(env, kv) {
			t.Errorf("%s not forwarded: %q", kv, env)
		}
	}
	for _, kv := range []string{"PKTLIFE_VM=host", "PKTLIFE_VM_KERNEL=6.1", "HOME=/root"} {
		if slices.Contains(env, kv) {
			t.Errorf("%s forwarded: %q", kv, env)
		}
	}
}
