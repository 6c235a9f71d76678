package kube

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Errors callers test for with errors.Is.
var (
	ErrPodNotFound     = errors.New("pod not found")
	ErrPodNotRunning   = errors.New("pod not running")
	ErrServiceNotFound = errors.New("service not found")
	ErrBadTarget       = errors.New("bad target")
	ErrBadFilter       = errors.New("bad filter")
	ErrForbidden       = errors.New("forbidden to create the privileged node pod")
	ErrNoBTF           = errors.New("node kernel has no BTF")
	ErrNodePodFailed   = errors.New("node pod failed")
)

// NodeExitError is a node pod whose pktlife exited with a non-zero code.
type NodeExitError struct {
	Node    string
	Pod     string
	Code    int32
	Reason  string // the container's termination reason, e.g. "Error", "OOMKilled"
	Message string // the termination message: pktlife's last words on stderr
}

func (e *NodeExitError) Error() string {
	// Keep the error on one line: the message is the tracer's last log lines.
	msg := lastWords(e.Message)
	if msg == "" {
		msg = e.Reason
	}
	s := fmt.Sprintf("pktlife on node %s exited with code %d", e.Node, e.Code)
	switch sig, ok := e.Signal(); {
	case ok:
		s += " (killed by " + sig + ")"
	case e.Code == 2:
		s += " (refused)"
	}
	if msg != "" {
		s += ": " + msg
	}
	return s
}

// Signal names the signal that killed pktlife, when its exit code says it
// was killed by one (128 + the signal's number, as the container runtime
// reports it): 137 is a SIGKILL (OOM, a forced end), which leaves no time
// to put back what it changed.
func (e *NodeExitError) Signal() (string, bool) {
	if e.Code <= 128 || e.Code > 128+64 {
		return "", false
	}
	n := e.Code - 128
	if name, ok := signalNames[n]; ok {
		return name, true
	}
	return fmt.Sprintf("signal %d", n), true
}

var signalNames = map[int32]string{1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}

// lastWords is the last line of a node pod's termination message that
// pktlife wrote as a status line. With terminationMessagePolicy
// FallbackToLogsOnError the message is the tail of the container's log,
// where the journeys (NDJSON on stdout) and the status lines (stderr) are
// mixed, cut to the kubelet's 2048 bytes: a journey, or the cut end of one
// at the top, is not a reason.
func lastWords(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "{") || (i == 0 && strings.HasSuffix(l, "}") && strings.Contains(l, `":`)) {
			continue
		}
		return l
	}
	return ""
}

// Is makes a node exit that complains about BTF match ErrNoBTF, and every
// node exit match ErrNodePodFailed.
func (e *NodeExitError) Is(target error) bool {
	switch target {
	case ErrNodePodFailed:
		return true
	case ErrNoBTF:
		return mentionsBTF(e.Message)
	}
	return false
}

func mentionsBTF(msg string) bool {
	return strings.Contains(msg, "BTF") || strings.Contains(msg, "/sys/kernel/btf")
}

// createError turns the API's answer to a pod create into a one-line error
// that says what to do.
func createError(ns string, err error) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("create node pod in namespace %q: %w: %s (use a namespace whose "+
			"policy admits privileged, hostNetwork, hostPID pods, e.g. --node-namespace kube-system, "+
			"or ask for RBAC to create pods there)", ns, ErrForbidden, apiMessage(err))
	}
	if apierrors.IsInvalid(err) {
		return fmt.Errorf("create node pod in namespace %q: invalid pod: %w", ns, err)
	}
	return fmt.Errorf("create node pod in namespace %q: %w", ns, err)
}

// apiMessage is the server's own message of an API error, without the
// status boilerplate.
func apiMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		if m := st.Status().Message; m != "" {
			return m
		}
	}
	return err.Error()
}
