package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// kernelLibs are the libraries that load BPF and speak netlink. The kubectl
// plugin runs on laptops (macOS and Windows too) and needs only the journey
// and graph models, so neither it nor what it renders with may link them.
var kernelLibs = []string{
	"github.com/cilium/ebpf",
	"github.com/vishvananda/netlink",
	"github.com/vishvananda/netns",
}

// TestNoKernelLibraries lists, with the go command, the packages each of
// these links on Linux (where the kernel code builds) and fails when one
// of kernelLibs is among them, naming the chain of imports that pulls it.
func TestNoKernelLibraries(t *testing.T) {
	goCmd, err := exec.LookPath("go") // go test puts its own GOROOT/bin first on PATH
	if err != nil {
		t.Skipf("no go command to list packages with: %v", err)
	}
	const mod = "github.com/pktlife/pktlife/"
	for _, pkg := range []string{"cmd/kubectl-pktlife", "render", "check", "kube", "trace/journey", "trace/progs"} {
		t.Run(pkg, func(t *testing.T) {
			imports := listImports(t, goCmd, mod+pkg)
			for _, lib := range kernelLibs {
				if chain := importChain(imports, mod+pkg, lib); chain != nil {
					t.Errorf("%s links %s: %s", pkg, lib, strings.Join(chain, " → "))
				}
			}
		})
	}
}

// listImports runs go list -deps on pkg for Linux and returns every package
// it links with that package's own imports.
func listImports(t *testing.T, goCmd, pkg string) map[string][]string {
	t.Helper()
	cmd := exec.Command(goCmd, "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, pkg)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.String())
	}
	imports := make(map[string][]string)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 {
			imports[fields[0]] = fields[1:]
		}
	}
	if len(imports) == 0 {
		t.Fatalf("go list -deps %s listed nothing", pkg)
	}
	return imports
}

// importChain is a shortest chain of imports from root to a package of
// lib (lib itself or one below it), or nil when root does not link lib.
func importChain(imports map[string][]string, root, lib string) []string {
	from := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == lib || strings.HasPrefix(p, lib+"/") {
			var chain []string
			for ; p != ""; p = from[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		for _, next := range imports[p] {
			if _, seen := from[next]; !seen {
				from[next] = p
				queue = append(queue, next)
			}
		}
	}
	return nil
}
