package kube

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/pktlife/pktlife/trace/journey"
)

// fakeRunner feeds recorded output and records what the session did.
type fakeRunner struct {
	out      io.ReadCloser
	startErr error
	waitErr  error
	onWait   func() // called in Wait, if set

	mu         sync.Mutex
	started    bool
	waited     bool
	deletes    int
	deleteLive bool // the context Delete got was not cancelled
}

func (r *fakeRunner) Start(ctx context.Context, _ *corev1.Pod) (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = true
	if r.startErr != nil {
		return nil, r.startErr
	}
	return r.out, nil
}

func (r *fakeRunner) Wait(context.Context) error {
	if r.onWait != nil {
		r.onWait()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waited = true
	return r.waitErr
}

func (r *fakeRunner) Delete(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deletes++
	r.deleteLive = ctx.Err() == nil
	return nil
}

func (r *fakeRunner) check(t *testing.T, name string, waited bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deletes != 1 || !r.deleteLive {
		t.Errorf("%s: %d deletes, live context %v; want 1 with a live context", name, r.deletes, r.deleteLive)
	}
	if r.waited != waited {
		t.Errorf("%s: waited %v, want %v", name, r.waited, waited)
	}
}

// recordSink records journeys and tells got about each.
type recordSink struct {
	mu     sync.Mutex
	nodes  []string
	ids    []uint64
	closed int
	got    chan struct{}
}

func (s *recordSink) Journey(node string, j *journey.Journey) error {
	s.mu.Lock()
	s.nodes, s.ids = append(s.nodes, node), append(s.ids, j.ID)
	s.mu.Unlock()
	if s.got != nil {
		s.got <- struct{}{}
	}
	return nil
}

func (s *recordSink) Close() error { s.closed++; return nil }

func runnersOf(rs ...*fakeRunner) func() NodeRunner {
	i := 0
	return func() NodeRunner { i++; return rs[i-1] }
}

func podOn(node string) *corev1.Pod {
	p := &corev1.Pod{}
	p.Name, p.Namespace, p.Spec.NodeName = "pktlife-t-"+node, "shop", node
	return p
}

func fixtureReader(t *testing.T, name string) io.ReadCloser {
	return io.NopCloser(bytes.NewReader(readFixture(t, name)))
}

func TestSessionOneNode(t *testing.T) {
	r := &fakeRunner{out: fixtureReader(t, "node-a.ndjson")}
	sink := &recordSink{}
	var status bytes.Buffer
	s := &Session{Pods: []*corev1.Pod{podOn("node-a")}, NewRunner: runnersOf(r), Sink: sink, Status: &status}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.check(t, "node-a", true)
	if got := sink.ids; len(got) != 3 || got[0] != 1 || got[2] != 3 || sink.closed != 1 {
		t.Errorf("sink got journeys %v, closed %d times; want 1, 2, 3 and one close", got, sink.closed)
	}
	for _, want := range []string{"starting node pod shop/pktlife-t-node-a on node node-a",
		"[node-a] pktlife: tracing on node-a", "[node-a] pktlife: 3 journeys"} {
		if !strings.Contains(status.String(), want) {
			t.Errorf("status %q lacks %q", status.String(), want)
		}
	}
}

func TestSessionCancel(t *testing.T) {
	pr, pw := io.Pipe()
	r := &fakeRunner{out: pr}
	sink := &recordSink{got: make(chan struct{})}
	s := &Session{Pods: []*corev1.Pod{podOn("node-a")}, NewRunner: runnersOf(r), Sink: sink}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	lines := strings.Split(string(readFixture(t, "node-a.ndjson")), "\n")
	go pw.Write([]byte(lines[1] + "\n")) // the tracer says one journey, then nothing
	<-sink.got
	cancel() // Ctrl-C
	if err := <-done; err != nil {
		t.Errorf("run after cancel: %v, want nil (an interrupt is a normal end)", err)
	}
	r.check(t, "node-a", false)
	if _, err := pw.Write([]byte("x\n")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("the node stream was not closed on cancel: write %v", err)
	}
	if sink.closed != 1 || len(sink.ids) != 1 {
		t.Errorf("sink: %d journeys, closed %d times", len(sink.ids), sink.closed)
	}
}

func TestSessionNodeFails(t *testing.T) {
	pr, pw := io.Pipe() // node-a streams nothing and never ends by itself
	defer pw.Close()
	a := &fakeRunner{out: pr}
	b := &fakeRunner{out: io.NopCloser(strings.NewReader("pktlife: no BTF\n")),
		waitErr: &NodeExitError{Node: "node-b", Code: 2, Message: "pktlife: this kernel has no BTF"}}
	sink := &recordSink{}
	s := &Session{Pods: []*corev1.Pod{podOn("node-a"), podOn("node-b")}, NewRunner: runnersOf(a, b), Sink: sink}
	err := s.Run(context.Background())
	if !errors.Is(err, ErrNoBTF) {
		t.Errorf("run: %v, want node-b's ErrNoBTF", err)
	}
	a.check(t, "node-a", false)
	b.check(t, "node-b", true)
	if sink.closed != 1 {
		t.Errorf("sink closed %d times", sink.closed)
	}
}

func TestSessionStartFails(t *testing.T) {
	a := &fakeRunner{startErr: ErrForbidden}
	s := &Session{Pods: []*corev1.Pod{podOn("node-a")}, NewRunner: runnersOf(a), Sink: &recordSink{}}
	if err := s.Run(context.Background()); !errors.Is(err, ErrForbidden) {
		t.Errorf("run: %v, want the start error", err)
	}
	a.check(t, "node-a", false) // deleted all the same: the pod may exist
}

func TestSessionTwoNodesMerged(t *testing.T) {
	a := &fakeRunner{out: fixtureReader(t, "node-a.ndjson")}
	b := &fakeRunner{out: fixtureReader(t, "node-b.ndjson")}
	var out bytes.Buffer
	sink := &MergeSink{M: &Merger{Order: testOrder, Window: 1 << 62}, W: TimelineJSON{W: &out}}
	s := &Session{Pods: []*corev1.Pod{podOn("node-a"), podOn("node-b")}, NewRunner: runnersOf(a, b), Sink: sink}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.check(t, "node-a", true)
	b.check(t, "node-b", true)
	got := summarize(t, decodeTimelines(t, out.Bytes()))
	// Pairs are written when matched, singles when the trace ends; the
	// interleaving of the two streams decides the order within each group.
	want := map[string]bool{
		"node-a#1 node-b#1 tuple+ip-id": true, "node-b#3 node-a#2 tuple+ip-id": true,
		"node-b#2": true, "node-a#3": true,
	}
	if len(got) != len(want) {
		t.Fatalf("timelines %q, want %d", got, len(want))
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected timeline %q (all: %q)", g, got)
		}
	}
}

// Cleanup pods: lines only, no sink; a node that fails does not end the
// others, and every node's failure is returned.
func TestSessionKeepGoing(t *testing.T) {
	pr, pw := io.Pipe()
	a := &fakeRunner{out: pr, waitErr: &NodeExitError{Node: "node-a", Code: 1, Message: "pktlife: cleanup: a"}}
	bDone := make(chan struct{})
	b := &fakeRunner{out: io.NopCloser(strings.NewReader("nothing to clean up\n")), onWait: func() { close(bDone) },
		waitErr: &NodeExitError{Node: "node-b", Code: 1, Message: "pktlife: cleanup: b"}}
	go func() {
		<-bDone // node-b has failed; node-a goes on
		pw.Write([]byte("restored 1 tail-call slot(s) left interposed by pktlife pid 7 (pktlife)\n"))
		pw.Close()
	}()
	var out, status bytes.Buffer
	s := &Session{Pods: []*corev1.Pod{podOn("node-a"), podOn("node-b")}, NewRunner: runnersOf(a, b),
		Status: &status, NodeOut: &out, KeepGoing: true}
	err := s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "node node-a exited with code 1") || !strings.Contains(err.Error(), "node node-b exited with code 1") {
		t.Errorf("run: %v, want both nodes' failures", err)
	}
	a.check(t, "node-a", true)
	b.check(t, "node-b", true)
	want := "[node-b] nothing to clean up\n[node-a] restored 1 tail-call slot(s) left interposed by pktlife pid 7 (pktlife)\n"
	if out.String() != want {
		t.Errorf("node lines %q, want %q", out.String(), want)
	}
	if strings.Contains(status.String(), "[node-") || !strings.Contains(status.String(), "starting node pod") {
		t.Errorf("status %q: want the plugin's lines only", status.String())
	}
}
