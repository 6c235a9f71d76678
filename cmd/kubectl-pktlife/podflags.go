package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pktlife/pktlife/kube"
)

// podFlags shape the privileged pods the plugin runs on nodes; trace and
// cleanup share them.
type podFlags struct {
	image, pullPolicy, nodeNS string
	timeout                   time.Duration
}

// bind adds the flags to cmd; nsDefault says where the pods go without
// --node-namespace.
func (f *podFlags) bind(cmd *cobra.Command, nsDefault string) {
	fs := cmd.Flags()
	fs.StringVar(&f.image, "image", kube.DefaultImage(), "The node image that runs pktlife")
	fs.StringVar(&f.pullPolicy, "image-pull-policy", "", "Image pull policy of the node pod: Always, IfNotPresent or Never (default: the cluster's)")
	fs.StringVar(&f.nodeNS, "node-namespace", "", "Namespace of the node pods (default: "+nsDefault+"); it must admit privileged pods")
	fs.DurationVar(&f.timeout, "timeout", 2*time.Minute, "How long to wait for the node pods to start")
	_ = cmd.RegisterFlagCompletionFunc("image-pull-policy",
		cobra.FixedCompletions([]string{"Always", "IfNotPresent", "Never"}, cobra.ShellCompDirectiveNoFileComp))
}

func (f *podFlags) check() error {
	switch corev1.PullPolicy(f.pullPolicy) {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		return nil
	}
	return usageError{fmt.Errorf("check flags: --image-pull-policy must be Always, IfNotPresent or Never")}
}

// options are the pod options the flags say; Namespace is --node-namespace,
// "" when unset.
func (f *podFlags) options(session string) kube.PodOptions {
	return kube.PodOptions{Namespace: f.nodeNS, Image: f.image, PullPolicy: corev1.PullPolicy(f.pullPolicy),
		Session: session, StartTimeout: f.timeout}
}

// runner returns the NodeRunners of a session; tests replace newRunner.
func (a *app) runner(c kubernetes.Interface, f *podFlags) func() kube.NodeRunner {
	return func() kube.NodeRunner { return a.newRunner(c, f.timeout) }
}

func apiRunner(c kubernetes.Interface, startTimeout time.Duration) kube.NodeRunner {
	return &kube.APIRunner{Client: c, StartTimeout: startTimeout}
}
