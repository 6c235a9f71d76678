package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/pktlife/pktlife/kube"
)

// cleanupFlags are the cleanup command's flags.
type cleanupFlags struct {
	podFlags
	allNamespaces, allNodes, dryRun bool
	nodes                           []string
}

func (a *app) cleanupCmd() *cobra.Command {
	var f cleanupFlags
	cmd := &cobra.Command{
		Use:   "cleanup [-A] [--node NAME]... [--all-nodes] [--dry-run]",
		Short: "Delete node pods left behind by an interrupted trace and restore their nodes",
		Long: `kubectl pktlife deletes its node pods when a trace ends or is interrupted.
If the plugin itself was killed, they stay until their deadline
(activeDeadlineSeconds) ends them; cleanup deletes them now, with their
grace period, so that a pktlife still running puts back what it changed.
It selects pods labelled ` + kube.Selector + `.

A node pod that was itself killed (OOM, a forced deletion, a node problem)
while it interposed on tail calls (--tail-calls=interpose) leaves its shims
in the node's datapath: they keep it working, but only pktlife cleanup on the
node puts the original programs back. So, once the deleted pods are gone,
cleanup runs ` + "`pktlife cleanup`" + ` in a short-lived privileged pod on every node
that had one of them, on each node named with --node, or on every node with
--all-nodes, prints what each says prefixed by its node, and deletes the pod.
It fails when the cleanup of a node failed.`,
		Example: `  kubectl pktlife cleanup -A
  kubectl pktlife cleanup -n kube-system --dry-run
  kubectl pktlife cleanup -n kube-system --node worker-3
  kubectl pktlife cleanup -A --all-nodes --node-namespace kube-system`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.cleanup(cmd.Context(), &f)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "Look for node pods in every namespace")
	fs.BoolVar(&f.dryRun, "dry-run", false, "Only list the pods, and the nodes that would be cleaned up")
	fs.StringArrayVar(&f.nodes, "node", nil, "Also restore this node, whether or not a node pod was left there (repeatable)")
	fs.BoolVar(&f.allNodes, "all-nodes", false, "Restore every node of the cluster")
	f.podFlags.bind(cmd, "a leftover node pod's on that node, else the current")
	return cmd
}

func (a *app) cleanup(ctx context.Context, f *cleanupFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	c, ns, err := a.newClient()
	if err != nil {
		return err
	}
	lookIn := ns
	if f.allNamespaces {
		lookIn = ""
	}
	left, err := kube.Cleanup(ctx, c, lookIn, f.dryRun)
	verb := "deleted"
	if f.dryRun {
		verb = "would delete"
	}
	for _, l := range left {
		fmt.Fprintf(a.stdout, "%s pod %s\n", verb, l)
	}
	if len(left) == 0 {
		fmt.Fprintln(a.stderr, "kubectl-pktlife: no node pods found")
	}
	pods, perr := kube.CleanupPods(ctx, c, left, f.nodes, f.allNodes, f.options(a.session()), ns)
	if err = errors.Join(err, perr); perr != nil || len(pods) == 0 {
		return err
	}
	if f.dryRun {
		for _, p := range pods {
			fmt.Fprintf(a.stdout, "would run pktlife cleanup on node %s in pod %s/%s\n", p.Spec.NodeName, p.Namespace, p.Name)
		}
		return err
	}
	if len(left) > 0 {
		a.waitGone(ctx, c, left)
	}
	s := &kube.Session{Pods: pods, NewRunner: a.runner(c, &f.podFlags), Status: a.stderr, NodeOut: a.stdout, KeepGoing: true}
	err = errors.Join(err, s.Run(ctx))
	if ctx.Err() != nil {
		fmt.Fprintln(a.stderr, "kubectl-pktlife: interrupted")
		err = errors.Join(err, fmt.Errorf("clean up nodes: %w", ctx.Err()))
	}
	return err
}

// waitGone gives the deleted node pods their grace period to exit: a
// pktlife still running then restores its node itself, and cleanup finds
// nothing left to do there. Past it, cleanup goes on: it leaves alone what
// a live pktlife holds.
func (a *app) waitGone(ctx context.Context, c kubernetes.Interface, left []kube.Leftover) {
	fmt.Fprintf(a.stderr, "kubectl-pktlife: waiting for the deleted node pods to exit\n")
	wctx, cancel := context.WithTimeout(ctx, kube.GracePeriod+30*time.Second)
	defer cancel()
	if err := kube.WaitGone(wctx, c, left); err != nil && ctx.Err() == nil {
		fmt.Fprintf(a.stderr, "kubectl-pktlife: %v; cleaning up their nodes all the same\n", err)
	}
}
