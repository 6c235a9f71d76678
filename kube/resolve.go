package kube

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Request is what the user asked to trace.
type Request struct {
	Namespace string // of the pod and of a pod or service target
	Pod       string
	To        string // the --to argument; empty traces all of the pod's traffic
	Filter    Filter // as given on the command line
}

// Plan is a resolved request: what is traced, where, with which filter.
type Plan struct {
	Pod    Endpoint
	Target *Endpoint
	Filter Filter   // the user's filter with the derived parts filled in
	Nodes  []string // nodes to trace on, the pod's node first
	// PodNames name pods' network namespaces in the node pods' journeys
	// ("default/web"), by the pods' addresses (see NetnsLabelArgs).
	PodNames map[netip.Addr]string
	Notes    []string // what the user should know about the plan
}

// MultiNode reports whether the plan traces on two nodes.
func (p *Plan) MultiNode() bool { return len(p.Nodes) > 1 }

// Resolve looks the pod and the target up and derives the filter.
func Resolve(ctx context.Context, c kubernetes.Interface, req Request) (*Plan, error) {
	if err := req.Filter.Validate(); err != nil {
		return nil, err
	}
	pod, notes, err := resolvePod(ctx, c, req.Namespace, req.Pod, "")
	if err != nil {
		return nil, err
	}
	plan := &Plan{Pod: pod, Nodes: []string{pod.Node}, Notes: notes}
	if req.To != "" {
		ref, err := ParseTarget(req.To)
		if err != nil {
			return nil, err
		}
		t, notes, err := resolveTarget(ctx, c, req.Namespace, ref, pod.IP)
		if err != nil {
			return nil, err
		}
		plan.Target = &t
		plan.Notes = append(plan.Notes, notes...)
		if t.Kind == KindPod && t.Node != pod.Node {
			plan.Nodes = append(plan.Nodes, t.Node)
		}
	}
	plan.Filter = req.Filter.Derive(plan.Pod, plan.Target)
	plan.PodNames = podNames(ctx, c, req.Namespace, plan)
	return plan, nil
}

// podNames maps the addresses of the plan's pods, and of the other pods of
// the namespace on its nodes (a service's backends among them), to
// "namespace/name". Pods on the host network are left out: their address
// is the node's. Listing is best effort: without the right to list pods
// only the plan's own pods are named.
func podNames(ctx context.Context, c kubernetes.Interface, ns string, plan *Plan) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, e := range []*Endpoint{&plan.Pod, plan.Target} {
		if e != nil && e.Kind == KindPod && !e.HostNetwork {
			out[e.IP] = e.Namespace + "/" + e.Name
		}
	}
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return out
	}
	for _, p := range pods.Items {
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || p.Spec.HostNetwork || !slices.Contains(plan.Nodes, p.Spec.NodeName) {
			continue
		}
		if _, ok := out[ip.Unmap()]; !ok {
			out[ip.Unmap()] = p.Namespace + "/" + p.Name
		}
	}
	return out
}

// NetnsLabelArgs are the node tracer's --netns-label flags for names.
func NetnsLabelArgs(names map[netip.Addr]string) []string {
	ips := make([]netip.Addr, 0, len(names))
	for ip := range names {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	var args []string
	for _, ip := range ips {
		args = append(args, "--netns-label", ip.String()+"="+names[ip])
	}
	return args
}

func resolveTarget(ctx context.Context, c kubernetes.Interface, ns string, ref TargetRef, from netip.Addr) (Endpoint, []string, error) {
	switch ref.Kind {
	case KindIP:
		e := Endpoint{Kind: KindIP, IP: ref.Addr}
		if ref.Port != "" {
			e.Port = mustPort(ref.Port)
			if e.Port == 0 {
				return Endpoint{}, nil, fmt.Errorf("resolve target %s: %w: a port of an address must be a number", ref, ErrBadTarget)
			}
		}
		return e, nil, nil
	case KindService:
		return resolveService(ctx, c, ns, ref, from)
	}
	e, notes, err := resolvePod(ctx, c, ns, ref.Name, ref.Port)
	if err != nil {
		return Endpoint{}, nil, fmt.Errorf("resolve target: %w", err)
	}
	return e, notes, nil
}

func resolvePod(ctx context.Context, c kubernetes.Interface, ns, name, port string) (Endpoint, []string, error) {
	p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Endpoint{}, nil, fmt.Errorf("get pod %s/%s: %w", ns, name, ErrPodNotFound)
	}
	if err != nil {
		return Endpoint{}, nil, fmt.Errorf("get pod %s/%s: %w", ns, name, err)
	}
	if p.DeletionTimestamp != nil {
		return Endpoint{}, nil, fmt.Errorf("check pod %s/%s: %w: it is terminating", ns, name, ErrPodNotRunning)
	}
	if p.Status.Phase != corev1.PodRunning {
		return Endpoint{}, nil, fmt.Errorf("check pod %s/%s: %w: phase %s%s", ns, name, ErrPodNotRunning, p.Status.Phase, waitingReason(p))
	}
	ip, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil || p.Spec.NodeName == "" {
		return Endpoint{}, nil, fmt.Errorf("check pod %s/%s: %w: it has no address or node yet", ns, name, ErrPodNotRunning)
	}
	e := Endpoint{Kind: KindPod, Namespace: ns, Name: name, Node: p.Spec.NodeName, IP: ip.Unmap(), HostNetwork: p.Spec.HostNetwork}
	if err := podPort(p, port, &e); err != nil {
		return Endpoint{}, nil, err
	}
	var notes []string
	if p.Spec.HostNetwork {
		notes = append(notes, fmt.Sprintf("pod %s/%s uses the host network: its address %s is the node's, "+
			"so the filter also matches the node's own traffic", ns, name, ip))
	}
	return e, notes, nil
}

// podPort resolves a numeric or named container port of p into e.
func podPort(p *corev1.Pod, port string, e *Endpoint) error {
	if port == "" {
		return nil
	}
	n, numErr := strconv.ParseUint(port, 10, 16)
	for _, ctr := range p.Spec.Containers {
		for _, cp := range ctr.Ports {
			if (numErr == nil && cp.ContainerPort == int32(n)) || (numErr != nil && cp.Name == port) {
				e.Port, e.Proto = uint16(cp.ContainerPort), protoName(cp.Protocol)
				return nil
			}
		}
	}
	if numErr != nil {
		return fmt.Errorf("resolve port %q of pod %s/%s: %w: no container port has that name", port, p.Namespace, p.Name, ErrBadTarget)
	}
	e.Port = uint16(n)
	return nil
}

func resolveService(ctx context.Context, c kubernetes.Interface, ns string, ref TargetRef, from netip.Addr) (Endpoint, []string, error) {
	s, err := c.CoreV1().Services(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Endpoint{}, nil, fmt.Errorf("get service %s/%s: %w", ns, ref.Name, ErrServiceNotFound)
	}
	if err != nil {
		return Endpoint{}, nil, fmt.Errorf("get service %s/%s: %w", ns, ref.Name, err)
	}
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		return Endpoint{}, nil, fmt.Errorf("resolve service %s/%s: %w: an ExternalName service (%s) has no cluster IP; trace to its address instead",
			ns, ref.Name, ErrBadTarget, s.Spec.ExternalName)
	}
	ip, ok := clusterIP(s, from)
	if !ok {
		return Endpoint{}, nil, fmt.Errorf("resolve service %s/%s: %w: it is headless (no cluster IP); trace to one of its pods instead",
			ns, ref.Name, ErrBadTarget)
	}
	e := Endpoint{Kind: KindService, Namespace: ns, Name: ref.Name, IP: ip}
	var notes []string
	sp, err := servicePort(s, ref.Port)
	switch {
	case err != nil:
		return Endpoint{}, nil, err
	case sp != nil:
		e.Port, e.Proto = uint16(sp.Port), protoName(sp.Protocol)
	case len(s.Spec.Ports) > 1:
		notes = append(notes, fmt.Sprintf("service %s/%s has %d ports: tracing all of them (name one: svc/%s:PORT)",
			ns, ref.Name, len(s.Spec.Ports), ref.Name))
	}
	notes = append(notes, "tracing on the client's node only: service backends on other nodes are not traced (use --to pod/NAME for both halves)")
	return e, notes, nil
}

// clusterIP picks the service's cluster IP of the client's address family.
func clusterIP(s *corev1.Service, from netip.Addr) (netip.Addr, bool) {
	ips := s.Spec.ClusterIPs
	if len(ips) == 0 && s.Spec.ClusterIP != "" {
		ips = []string{s.Spec.ClusterIP}
	}
	var first netip.Addr
	for _, v := range ips {
		a, err := netip.ParseAddr(v)
		if err != nil {
			continue // "None" for headless services
		}
		a = a.Unmap()
		if a.Is4() == from.Is4() {
			return a, true
		}
		if !first.IsValid() {
			first = a
		}
	}
	return first, first.IsValid()
}

// servicePort finds the named or numbered port; with none asked for, the
// only port, or nil when there are several.
func servicePort(s *corev1.Service, port string) (*corev1.ServicePort, error) {
	if port == "" {
		if len(s.Spec.Ports) == 1 {
			return &s.Spec.Ports[0], nil
		}
		return nil, nil
	}
	n, numErr := strconv.ParseUint(port, 10, 16)
	for i, sp := range s.Spec.Ports {
		if (numErr == nil && sp.Port == int32(n)) || (numErr != nil && sp.Name == port) {
			return &s.Spec.Ports[i], nil
		}
	}
	return nil, fmt.Errorf("resolve port %q of service %s/%s: %w: the service has no such port", port, s.Namespace, s.Name, ErrBadTarget)
}

func protoName(p corev1.Protocol) string {
	switch p {
	case corev1.ProtocolTCP, "":
		return "tcp"
	case corev1.ProtocolUDP:
		return "udp"
	case corev1.ProtocolSCTP:
		return "sctp"
	}
	return ""
}

// waitingReason is " (REASON)" of the first waiting container, or "".
func waitingReason(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return " (" + w.Reason + ")"
		}
	}
	if p.Status.Reason != "" {
		return " (" + p.Status.Reason + ")"
	}
	return ""
}
