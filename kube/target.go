package kube

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Kind is what a --to argument names.
type Kind string

const (
	KindPod     Kind = "pod"
	KindService Kind = "service"
	KindIP      Kind = "ip"
)

// TargetRef is a parsed --to argument: "POD[:PORT]", "pod/POD[:PORT]",
// "svc/NAME[:PORT]", "IP", "IP:PORT" or "[IPv6]:PORT". PORT is a number or
// a port name (a named container port or service port).
type TargetRef struct {
	Kind Kind
	Name string     // pod or service name
	Addr netip.Addr // for KindIP
	Port string     // number or name; empty when not given
}

// ParseTarget parses a --to argument.
func ParseTarget(s string) (TargetRef, error) {
	if s == "" {
		return TargetRef{}, fmt.Errorf("parse target: %w: empty", ErrBadTarget)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return TargetRef{Kind: KindIP, Addr: a.Unmap()}, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return TargetRef{}, fmt.Errorf("parse target %q: %w: port 0", s, ErrBadTarget)
		}
		return TargetRef{Kind: KindIP, Addr: ap.Addr().Unmap(), Port: strconv.Itoa(int(ap.Port()))}, nil
	}
	ref := TargetRef{Kind: KindPod, Name: s}
	if kind, name, ok := strings.Cut(s, "/"); ok {
		switch strings.ToLower(kind) {
		case "pod", "pods", "po":
			ref.Kind = KindPod
		case "svc", "service", "services":
			ref.Kind = KindService
		default:
			return TargetRef{}, fmt.Errorf("parse target %q: %w: want pod/NAME, svc/NAME or an IP", s, ErrBadTarget)
		}
		ref.Name = name
	}
	if name, port, ok := strings.Cut(ref.Name, ":"); ok {
		ref.Name, ref.Port = name, port
		if err := checkPort(port); err != nil {
			return TargetRef{}, fmt.Errorf("parse target %q: %w", s, err)
		}
	}
	if !validName(ref.Name) {
		return TargetRef{}, fmt.Errorf("parse target %q: %w: %q is not a valid %s name", s, ErrBadTarget, ref.Name, ref.Kind)
	}
	return ref, nil
}

// String formats the reference the way ParseTarget reads it.
func (r TargetRef) String() string {
	var s string
	switch r.Kind {
	case KindIP:
		if r.Port != "" {
			return netip.AddrPortFrom(r.Addr, mustPort(r.Port)).String()
		}
		return r.Addr.String()
	case KindService:
		s = "svc/" + r.Name
	default:
		s = "pod/" + r.Name
	}
	if r.Port != "" {
		s += ":" + r.Port
	}
	return s
}

func mustPort(s string) uint16 {
	n, _ := strconv.ParseUint(s, 10, 16)
	return uint16(n)
}

// checkPort accepts 1-65535 or an IANA_SVC_NAME-like port name.
func checkPort(s string) error {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		if n == 0 {
			return fmt.Errorf("%w: port 0", ErrBadTarget)
		}
		return nil
	}
	if s == "" || len(s) > 15 || !strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") {
		return fmt.Errorf("%w: bad port %q", ErrBadTarget, s)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(s)-1
		if !ok {
			return fmt.Errorf("%w: bad port %q", ErrBadTarget, s)
		}
	}
	return nil
}

// validName accepts DNS-1123 subdomains, which pod and service names are.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && !((c == '-' || c == '.') && i > 0 && i < len(s)-1) {
			return false
		}
	}
	return true
}

// Endpoint is a resolved end of the traffic: a pod, a service's cluster IP
// or a literal address.
type Endpoint struct {
	Kind      Kind
	Namespace string
	Name      string
	Node      string // the pod's node; empty for services and addresses
	IP        netip.Addr
	Port      uint16 // 0: any
	Proto     string // "tcp", "udp", "" when unknown
	// HostNetwork is set for a pod on the node's network: its address is
	// the node's.
	HostNetwork bool
}

// String describes the endpoint for status lines, e.g.
// "pod default/web (10.244.1.5:8080) on node-b".
func (e Endpoint) String() string {
	addr := e.IP.String()
	if e.Port != 0 {
		addr = netip.AddrPortFrom(e.IP, e.Port).String()
	}
	switch e.Kind {
	case KindIP:
		return addr
	case KindService:
		return fmt.Sprintf("service %s/%s (%s)", e.Namespace, e.Name, addr)
	}
	s := fmt.Sprintf("pod %s/%s (%s)", e.Namespace, e.Name, addr)
	if e.Node != "" {
		s += " on " + e.Node
	}
	return s
}
