package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pktlife/pktlife/check"
	"github.com/pktlife/pktlife/demo"
)

// DemoEnv is the demo topology and datapath a spec with `demo: true` runs
// against.
type DemoEnv struct {
	Topo     *demo.Topology
	Datapath *demo.Datapath
}

// env is what a run sets up before tracing, and tears down after.
type env struct {
	demo    *DemoEnv
	aliases map[string]string // demo netns names → paths
	closers []io.Closer
}

// setupEnv builds the demo when the spec asks for it and starts the
// probes' listeners.
func setupEnv(ctx context.Context, s *check.Spec, o *Options) (e *env, err error) {
	e = &env{aliases: map[string]string{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Close())
		}
	}()
	if s.Setup.Demo {
		topo, err := demo.NewTopology(ctx, demo.Options{Prefix: o.DemoPrefix})
		if err != nil {
			return nil, fmt.Errorf("build demo topology: %w", err)
		}
		e.closers = append(e.closers, topo)
		dpo := o.DemoDatapath
		dpo.Legacy = dpo.Legacy || s.Setup.LegacyTC || o.LegacyTC
		dp, err := demo.LoadDatapath(topo, dpo)
		if err != nil {
			return nil, fmt.Errorf("load demo datapath: %w", err)
		}
		e.closers = append(e.closers, dp)
		e.demo = &DemoEnv{Topo: topo, Datapath: dp}
		e.aliases["node"] = topo.Node.Path
		e.aliases["poda"] = topo.PodA.Path
		e.aliases["podb"] = topo.PodB.Path
		if o.Prepare != nil {
			if err := o.Prepare(e.demo); err != nil {
				return nil, fmt.Errorf("prepare demo datapath: %w", err)
			}
		}
	}
	started := map[string]bool{}
	for _, p := range s.Probes {
		if p.Listen == nil {
			continue
		}
		path, err := e.netnsPath(p.Listen.Netns)
		if err != nil {
			return nil, fmt.Errorf("probe %s: listen: %w", p.Name, err)
		}
		key := p.Proto + " " + path + " " + p.Listen.Addr.String()
		if started[key] {
			continue
		}
		started[key] = true
		if err := e.listen(ctx, p.Proto, path, p.Listen.Addr); err != nil {
			return nil, fmt.Errorf("probe %s: %w", p.Name, err)
		}
	}
	return e, nil
}

func (e *env) listen(ctx context.Context, proto, path string, addr netip.AddrPort) error {
	if path == "" {
		path = ownNetns
	}
	switch proto {
	case "udp":
		srv, err := demo.StartUDPEcho(ctx, path, addr)
		if err != nil {
			return err
		}
		e.closers = append(e.closers, srv)
	case "tcp":
		srv, err := demo.StartTCPEcho(ctx, path, addr)
		if err != nil {
			return err
		}
		e.closers = append(e.closers, srv)
	}
	return nil
}

// ownNetns is the process's own namespace, for helpers that take a path.
const ownNetns = "/proc/self/ns/net"

// inNetns runs fn in the namespace at path; "" is the current one.
func inNetns(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	return demo.DoInNetns(path, fn)
}

// netnsPath resolves a spec's namespace name: "" (the current namespace),
// "host" (init's), a demo alias (node, poda, podb), a path, or a name under
// /run/netns. "" means the current namespace.
func (e *env) netnsPath(name string) (string, error) {
	switch {
	case name == "":
		return "", nil
	case name == "host":
		if sameNetns("/proc/self/ns/net", "/proc/1/ns/net") {
			return "", nil
		}
		return "/proc/1/ns/net", nil
	case e.aliases[name] != "":
		return e.aliases[name], nil
	}
	p := name
	if !strings.Contains(name, "/") {
		p = filepath.Join(demo.NetnsDir, name)
	}
	if _, err := os.Stat(p); err != nil {
		if e.demo == nil && (name == "poda" || name == "podb" || name == "node") {
			return "", fmt.Errorf("netns %q: demo names need `demo: true` in setup", name)
		}
		return "", fmt.Errorf("netns %q: %w", name, err)
	}
	return p, nil
}

func sameNetns(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Ino == sb.Ino && sa.Dev == sb.Dev
}

// traceNetns lists the namespaces the tracer observes: the spec's, else the
// demo's three, else the current one.
func (e *env) traceNetns(s *check.Spec) ([]string, error) {
	var out []string
	for _, n := range s.Setup.Netns {
		p, err := e.netnsPath(n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 && e.demo != nil {
		for _, n := range e.demo.Topo.Namespaces() {
			out = append(out, n.Path)
		}
	}
	return out, nil
}

// Close stops the listeners and removes the demo, in reverse order.
func (e *env) Close() error {
	var errs []error
	for i := len(e.closers) - 1; i >= 0; i-- {
		errs = append(errs, e.closers[i].Close())
	}
	e.closers = nil
	return errors.Join(errs...)
}
