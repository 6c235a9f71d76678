package trace

// Hooks for the external tail-call tests: a private state directory, so
// that tests neither wait for nor disturb a pktlife running on the machine,
// and the budget check switched off to reach the shim's failure path.

func SetStateDirForTest(o *Options, dir string) { o.StateDir = dir }

func IgnoreTailCallBudgetForTest(o *Options) { o.ignoreTailCallBudget = true }

// SetJournalSlotsForTest asks for a journal of n slots, to see the kernel
// refuse one.
func SetJournalSlotsForTest(o *Options, n int) { o.journalSlots = n }
