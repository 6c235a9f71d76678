// Command kerneldoc writes docs/kernels.md, the table of what each kernel
// the VM tests run on gives pktlife, from the facts `make test-vm`
// collects in each VM (`pktlife hops -o json --features`, one file per
// kernel):
//
//	go run ./internal/vm/kerneldoc bin/kernel-facts-5.10.json bin/kernel-facts-6.1.json ... > docs/kernels.md
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// row is one line of `pktlife hops -o json --features`.
type row struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Default   bool   `json:"default"`
	Supported bool   `json:"supported"`
	Mechanism string `json:"mechanism"`
	Reason    string `json:"reason"`
	What      string `json:"what"`
}

// facts is what one kernel reported.
type facts struct {
	release string
	hops    map[string]row
	feats   map[string]row
	order   []row // hops and features in the order reported
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kerneldoc FACTS.json...")
		os.Exit(2)
	}
	var ks []*facts
	for _, p := range os.Args[1:] {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kerneldoc: %v\n", err)
			os.Exit(1)
		}
		k, err := parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "kerneldoc: read %s: %v\n", p, err)
			os.Exit(1)
		}
		ks = append(ks, k)
	}
	if err := render(os.Stdout, ks); err != nil {
		fmt.Fprintf(os.Stderr, "kerneldoc: %v\n", err)
		os.Exit(1)
	}
}

// parse reads one kernel's facts; lines that are not JSON (a test
// harness's own output) are skipped.
func parse(r io.Reader) (*facts, error) {
	k := &facts{hops: map[string]row{}, feats: map[string]row{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var x row
		if err := json.Unmarshal([]byte(line), &x); err != nil {
			return nil, fmt.Errorf("parse %q: %w", line, err)
		}
		switch x.Kind {
		case "kernel":
			k.release = x.Name
			continue
		case "feature":
			k.feats[x.Name] = x
		default:
			k.hops[x.Name] = x
		}
		k.order = append(k.order, x)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if k.release == "" {
		return nil, fmt.Errorf("no kernel row (run pktlife hops -o json --features)")
	}
	return k, nil
}
