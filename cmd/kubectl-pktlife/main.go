// Command kubectl-pktlife is the kubectl plugin of pktlife: `kubectl pktlife
// trace POD` runs the tracer on the pod's node in a short-lived privileged
// pod and shows the pod's packets hop by hop. It is a second binary so the
// node binary stays free of client-go.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(context.Background()))
}

// run executes the command line and returns the exit code: 0 ok, 1 failure,
// 2 usage error.
func run(ctx context.Context) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once (leftovers: kubectl pktlife cleanup)
	}()
	a := newApp(os.Stdout, os.Stderr)
	err := a.root().ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
