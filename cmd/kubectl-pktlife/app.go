package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pktlife/pktlife/kube"
)

// usageError marks errors that exit with code 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// app holds what the commands share; tests replace newClient and session.
type app struct {
	stdout, stderr io.Writer
	rules          *clientcmd.ClientConfigLoadingRules
	overrides      clientcmd.ConfigOverrides
	// newClient returns the API client and the namespace to use.
	newClient func() (kubernetes.Interface, string, error)
	newRunner func(c kubernetes.Interface, startTimeout time.Duration) kube.NodeRunner
	session   func() string
}

func newApp(stdout, stderr io.Writer) *app {
	a := &app{stdout: stdout, stderr: stderr, rules: clientcmd.NewDefaultClientConfigLoadingRules(),
		newRunner: apiRunner, session: kube.NewSession}
	a.newClient = a.kubeClient
	return a
}

// kubeClient loads the kubeconfig the way kubectl does: --kubeconfig, else
// $KUBECONFIG, else ~/.kube/config, with --context, -n and the other
// override flags applied; in a pod without a kubeconfig, the in-cluster
// config.
func (a *app) kubeClient() (kubernetes.Interface, string, error) {
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(a.rules, &a.overrides)
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.UserAgent = "kubectl-pktlife/" + kube.Version
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("create api client: %w", err)
	}
	return c, ns, nil
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-pktlife",
		Short: "Trace a pod's packets hop by hop on its node",
		Long: `kubectl pktlife shows the life of a pod's packets on its node, hop by hop:
devices, tc and BPF programs (with their tail calls), NAT, and where a packet
was delivered or dropped and why. It runs pktlife on the pod's node in a
short-lived privileged pod, streams the journeys back and deletes the pod.`,
		Version:       kube.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl pktlife"},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	a.bindKubeFlags(root.PersistentFlags())
	root.AddCommand(a.traceCmd(), a.cleanupCmd())
	return root
}

// bindKubeFlags adds kubectl's connection flags: --kubeconfig, --context,
// -n/--namespace, --cluster, --user, --server, --token, --as, ….
func (a *app) bindKubeFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.rules.ExplicitPath, "kubeconfig", "", "Path to the kubeconfig file to use for CLI requests")
	clientcmd.BindOverrideFlags(&a.overrides, fs, clientcmd.RecommendedConfigOverrideFlags(""))
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("check arguments: want %s, got %d arguments", what, len(args))}
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{fmt.Errorf("check arguments: want %s, got %d arguments", what, len(args))}
		}
		return nil
	}
}

// usage marks errors that come from what the user typed.
func usage(err error) error {
	if errors.Is(err, kube.ErrBadTarget) || errors.Is(err, kube.ErrBadFilter) {
		return usageError{err}
	}
	return err
}
