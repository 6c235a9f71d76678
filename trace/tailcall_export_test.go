package trace

import "github.com/pktlife/pktlife/trace/tailcall"

// Hooks for the external tail-call tests: a private state directory, so
// that tests neither wait for nor disturb a pktlife running on the machine,
// and the budget check switched off to reach the shim's failure path.

func SetStateDirForTest(o *Options, dir string) { o.StateDir = dir }

func IgnoreTailCallBudgetForTest(o *Options) { o.ignoreTailCallBudget = true }

func CleanupStateForTest(dir string) ([]string, error) { return CleanupStateDir(dir) }

func IsBPFFSForTest(path string) bool { return tailcall.IsBPFFS(path) }
