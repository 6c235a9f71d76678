package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// EnvOptions configures Start.
type EnvOptions struct {
	Topology Options
	Datapath DatapathOptions
}

// Env is everything `pktlife demo` needs: the topology, the demo datapath
// on it, and pod B's echo servers on the backend port (UDP and TCP) and on
// the deny port (UDP, which the policy keeps empty).
type Env struct {
	Topo     *Topology
	Datapath *Datapath
	UDP      *UDPServer // pod B, BackendPort
	TCP      *TCPServer // pod B, BackendPort
	Denied   *UDPServer // pod B, DenyPort

	cancel context.CancelFunc
}

// Start builds the topology, loads the datapath and starts the servers.
// They run until Close (or until ctx ends, for the servers).
func Start(ctx context.Context, opts EnvOptions) (env *Env, err error) {
	env = &Env{}
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	if env.Topo, err = NewTopology(ctx, opts.Topology); err != nil {
		return nil, err
	}
	if env.Datapath, err = LoadDatapath(env.Topo, opts.Datapath); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	env.cancel = cancel
	pod := env.Topo.PodB.Path
	if env.UDP, err = StartUDPEcho(sctx, pod, env.Topo.Backend()); err != nil {
		return nil, err
	}
	if env.TCP, err = StartTCPEcho(sctx, pod, env.Topo.Backend()); err != nil {
		return nil, err
	}
	if env.Denied, err = StartUDPEcho(sctx, pod, netip.AddrPortFrom(env.Topo.PodB.IP(), DenyPort)); err != nil {
		return nil, err
	}
	return env, nil
}

// Flow names one kind of demo traffic.
type Flow string

// The demo's flows, in the order SendAll sends them.
const (
	FlowUDPService Flow = "udp-service" // UDP round trip through the VIP: DNAT, redirect, reverse NAT
	FlowTCPService Flow = "tcp-service" // TCP exchange through the VIP
	FlowUDPDenied  Flow = "udp-denied"  // UDP to pod B's deny port: dropped by demo_policy
	FlowPing       Flow = "ping"        // ICMP echo pod A -> pod B: routed by the node
)

// Flows lists every flow Send knows.
func Flows() []Flow { return []Flow{FlowUDPService, FlowTCPService, FlowUDPDenied, FlowPing} }

// Send makes one flow's packets from pod A and checks the outcome the
// datapath is designed for: replies where there should be replies, none
// where the policy drops.
func (e *Env) Send(ctx context.Context, f Flow) error {
	a := e.Topo.PodA.Path
	payload := []byte("pktlife demo " + string(f))
	switch f {
	case FlowUDPService:
		reply, err := UDPRoundTrip(ctx, a, e.Topo.Service, payload)
		if err != nil {
			return err
		}
		if !bytes.Equal(reply, payload) {
			return fmt.Errorf("send %s: reply %q, want %q", f, reply, payload)
		}
	case FlowTCPService:
		reply, err := TCPRoundTrip(ctx, a, e.Topo.Service, payload)
		if err != nil {
			return err
		}
		if !bytes.Equal(reply, payload) {
			return fmt.Errorf("send %s: reply %q, want %q", f, reply, payload)
		}
	case FlowUDPDenied:
		return SendUDP(ctx, a, e.Denied.Addr, payload)
	case FlowPing:
		_, err := Ping(ctx, a, e.Topo.PodB.IP())
		return err
	default:
		return fmt.Errorf("send %s: unknown flow", f)
	}
	return nil
}

// SendAll sends every flow once, in the order of Flows.
func (e *Env) SendAll(ctx context.Context) error {
	for _, f := range Flows() {
		if err := e.Send(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the servers, detaches the datapath and removes the topology.
// It is safe to call more than once.
func (e *Env) Close() error {
	if e == nil {
		return nil
	}
	if e.cancel != nil {
		e.cancel()
	}
	var errs []error
	if e.Denied != nil {
		errs = append(errs, e.Denied.Close())
	}
	if e.TCP != nil {
		errs = append(errs, e.TCP.Close())
	}
	if e.UDP != nil {
		errs = append(errs, e.UDP.Close())
	}
	errs = append(errs, e.Datapath.Close(), e.Topo.Close())
	return errors.Join(errs...)
}
