package kube

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Version is the plugin's version; the release build sets it with
// -ldflags "-X github.com/pktlife/pktlife/kube.Version=v0.1.0". It also
// picks the default node image's tag.
var Version = "latest"

// ImageRepo is where the node image lives.
const ImageRepo = "ghcr.io/pktlife/pktlife"

// DefaultImage is the node image matching this plugin's version.
func DefaultImage() string { return ImageRepo + ":" + Version }

// Labels and annotations on every node pod. LabelManagedBy selects all
// leftovers: kubectl delete pod -A -l app.kubernetes.io/managed-by=kubectl-pktlife
const (
	LabelName       = "app.kubernetes.io/name"
	LabelComponent  = "app.kubernetes.io/component"
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	LabelSession    = "pktlife.github.io/session"
	AnnotTarget     = "pktlife.github.io/traced-pod"
	AnnotFilter     = "pktlife.github.io/filter"
	ManagedByPlugin = "kubectl-pktlife"
	ContainerName   = "pktlife"
)

// Selector is the label selector of every node pod the plugin creates.
const Selector = LabelManagedBy + "=" + ManagedByPlugin

// GracePeriod is the node pods' terminationGracePeriodSeconds, which the
// plugin also deletes them with: on SIGTERM pktlife puts back the
// tail-call slots it interposed and exits, in well under a second, and only
// a SIGKILL before that would leave its shims in the datapath. Eviction and
// activeDeadlineSeconds give the same time.
const GracePeriod = 30 * time.Second

// PodOptions shape the node pods.
type PodOptions struct {
	Namespace    string // where the node pods run
	Image        string // default DefaultImage()
	PullPolicy   corev1.PullPolicy
	Session      string        // names and labels the pods of one run; default random
	StartTimeout time.Duration // how long a pod may take to start, added to the deadline
	Deadline     time.Duration // the trace's own limit when --duration is unset; default 1h
}

// NewSession returns a short random session id.
func NewSession() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// NodePods builds one node pod per node of the plan, the pod's node first.
func NodePods(plan *Plan, o PodOptions) []*corev1.Pod {
	if o.Session == "" {
		o.Session = NewSession()
	}
	pods := make([]*corev1.Pod, 0, len(plan.Nodes))
	for _, n := range plan.Nodes {
		pods = append(pods, NodePod(plan, n, o))
	}
	return pods
}

// NodePod builds the privileged pod that runs `pktlife trace` on node.
func NodePod(plan *Plan, node string, o PodOptions) *corev1.Pod {
	args := plan.Filter.Args()
	deadline := o.Deadline
	if deadline <= 0 {
		deadline = time.Hour
	}
	if plan.Filter.Duration > 0 {
		deadline = plan.Filter.Duration + time.Minute // room to flush and exit
	}
	p := hostPod(podName(o.Session, node), node, "node-tracer", args, deadline, o)
	p.Annotations = map[string]string{
		AnnotTarget: plan.Pod.Namespace + "/" + plan.Pod.Name,
		AnnotFilter: plan.Filter.Describe(),
	}
	ctr := &p.Spec.Containers[0]
	ctr.Args = append(ctr.Args, NetnsLabelArgs(plan.PodNames)...)
	return p
}

// cleanupRunTime bounds how long `pktlife cleanup` may run once started.
const cleanupRunTime = time.Minute

// CleanupPod builds the privileged pod that runs `pktlife cleanup` on node:
// it puts back the tail-call slots that a node pod killed mid-interpose left
// to its shims, from the journal in the node's bpffs, and removes the
// node's other pktlife leftovers. It has the node pods' host namespaces and
// mounts and their labels, so that a later cleanup finds it too.
func CleanupPod(node string, o PodOptions) *corev1.Pod {
	return hostPod(podName("cleanup-"+o.Session, node), node, "node-cleanup", []string{"cleanup"}, cleanupRunTime, o)
}

// hostPod builds a privileged pod that runs pktlife with args on node, in
// the node's network and PID namespaces with the node's BPF, BTF, tracing
// and netns directories, ended by activeDeadlineSeconds after the start
// timeout plus runTime.
func hostPod(name, node, component string, args []string, runTime time.Duration, o PodOptions) *corev1.Pod {
	if o.Image == "" {
		o.Image = DefaultImage()
	}
	deadlineSec := int64((runTime + o.StartTimeout).Round(time.Second) / time.Second)
	grace := int64(GracePeriod / time.Second)
	privileged := true
	root := int64(0) // BPF needs capabilities, which a non-root user does not hold
	no := false
	hostToContainer := corev1.MountPropagationHostToContainer
	dirOrCreate := corev1.HostPathDirectoryOrCreate

	type mount struct {
		name, path string
		ro         bool
		prop       *corev1.MountPropagationMode
		typ        *corev1.HostPathType
	}
	// The BTF directory has no type check: on a kernel without BTF the
	// mount fails and the error names the path (see ErrNoBTF).
	mounts := []mount{
		{name: "bpffs", path: "/sys/fs/bpf", prop: &hostToContainer},
		{name: "btf", path: "/sys/kernel/btf", ro: true},
		{name: "tracefs", path: "/sys/kernel/tracing"},
		{name: "debugfs", path: "/sys/kernel/debug"},
		{name: "netns", path: "/run/netns", ro: true, prop: &hostToContainer, typ: &dirOrCreate},
	}
	var vols []corev1.Volume
	var vms []corev1.VolumeMount
	for _, m := range mounts {
		vols = append(vols, corev1.Volume{Name: m.name, VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: m.path, Type: m.typ}}})
		vms = append(vms, corev1.VolumeMount{Name: m.name, MountPath: m.path, ReadOnly: m.ro, MountPropagation: m.prop})
	}

	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: o.Namespace,
			Labels: map[string]string{
				LabelName:      "pktlife",
				LabelComponent: component,
				LabelManagedBy: ManagedByPlugin,
				LabelSession:   o.Session,
			},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostNetwork:                   true,
			HostPID:                       true,
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         &deadlineSec,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:                     ContainerName,
				Image:                    o.Image,
				ImagePullPolicy:          o.PullPolicy,
				Command:                  []string{"pktlife"},
				Args:                     args,
				Env:                      podEnv(),
				SecurityContext:          &corev1.SecurityContext{Privileged: &privileged, RunAsUser: &root},
				VolumeMounts:             vms,
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
			Volumes: vols,
		},
	}
}

// The environment that tells pktlife which node pod it runs in (the
// Downward API's namespace and name), so that the owner record of the
// node's tail-call state names the pod: a second trace on the node is
// refused naming it, and pktlife cleanup says whose slots it restored. The
// same names as trace/shimstate's, which the plugin must not link.
const (
	EnvPodNamespace = "PKTLIFE_POD_NAMESPACE"
	EnvPodName      = "PKTLIFE_POD_NAME"
)

func podEnv() []corev1.EnvVar {
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
	}
	return []corev1.EnvVar{
		{Name: EnvPodNamespace, ValueFrom: field("metadata.namespace")},
		{Name: EnvPodName, ValueFrom: field("metadata.name")},
	}
}

// podName is "pktlife-SESSION-NODE", the node part cut so the name stays a
// valid 63-character label (the pod's host name is derived from it).
func podName(session, node string) string {
	n := strings.ToLower(strings.ReplaceAll(node, ".", "-"))
	prefix := "pktlife-" + session + "-"
	if max := 63 - len(prefix); len(n) > max {
		n = n[:max]
	}
	return strings.TrimRight(prefix+n, "-")
}

// PodsYAML prints pods as a YAML stream, as `kubectl get -o yaml` would
// print a list of single objects.
func PodsYAML(pods []*corev1.Pod) ([]byte, error) {
	var b strings.Builder
	for i, p := range pods {
		out, err := yaml.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("marshal pod %s: %w", p.Name, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(out)
	}
	return []byte(b.String()), nil
}

// PodsJSON prints pods as indented JSON, one object per pod.
func PodsJSON(pods []*corev1.Pod) ([]byte, error) {
	var b []byte
	for _, p := range pods {
		out, err := json.MarshalIndent(p, "", "    ")
		if err != nil {
			return nil, fmt.Errorf("marshal pod %s: %w", p.Name, err)
		}
		b = append(append(b, out...), '\n')
	}
	return b, nil
}
