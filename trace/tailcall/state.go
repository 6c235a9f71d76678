package tailcall

// CleanupState restores what a killed pktlife left interposed under the
// state directory dir, from its journal, unless a live one holds the lock,
// and removes its pins. It returns one line per thing done.
func CleanupState(dir string) ([]string, error) { return cleanupState(dir) }

// IsBPFFS reports whether path is a bpffs mount.
func IsBPFFS(path string) bool { return isBPFFS(path) }
