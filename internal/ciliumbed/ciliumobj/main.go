// Command ciliumobj compiles the Cilium test bed's objects (every program
// the tests load, at every version they run) into the bed's cache, and
// prints their paths. The Makefile's test-vm runs it with
// PKTLIFE_CILIUM_CACHE set to trace/testdata/cilium, which the VM receives
// as /work/testdata/cilium: the VM has neither the go tool nor clang.
package main

import (
	"fmt"
	"os"

	"github.com/pktlife/pktlife/internal/ciliumbed"
)

func main() {
	for _, v := range []string{ciliumbed.V114, ciliumbed.V118} {
		for _, p := range []ciliumbed.Program{ciliumbed.LXC, ciliumbed.Host} {
			obj, compiled, err := ciliumbed.Compile(v, p)
			if err != nil {
				fmt.Fprintf(os.Stderr, "ciliumobj: %v\n", err)
				os.Exit(1)
			}
			fmt.Printf("%s %s: %s (compiled now: %v)\n", v, p.File, obj, compiled)
		}
	}
}
