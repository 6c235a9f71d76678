package kube

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	fakerest "k8s.io/client-go/rest/fake"
	k8stesting "k8s.io/client-go/testing"
)

// apiCluster is a fake API where node pods run, their tracer writes the
// recorded trace of their node and exits 0.
func apiCluster(t *testing.T) kubernetes.Interface {
	t.Helper()
	c := testCluster()
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		p.Status = withState(p, corev1.PodSucceeded, exited(0, "")).Status
		return false, nil, nil // let the tracker store it
	})
	return logClient{c, func(pod string) []byte {
		return readFixture(t, pod[strings.LastIndex(pod, "node-"):]+".ndjson")
	}}
}

// logClient is the fake clientset with pod logs per pod name (the fake's
// own log reactor does not learn the pod's name).
type logClient struct {
	*fake.Clientset
	logs func(pod string) []byte
}

func (c logClient) CoreV1() typedcorev1.CoreV1Interface { return logCore{c.Clientset.CoreV1(), c.logs} }

type logCore struct {
	typedcorev1.CoreV1Interface
	logs func(pod string) []byte
}

func (c logCore) Pods(ns string) typedcorev1.PodInterface {
	return logPods{c.CoreV1Interface.Pods(ns), ns, c.logs}
}

type logPods struct {
	typedcorev1.PodInterface
	ns   string
	logs func(pod string) []byte
}

func (p logPods) GetLogs(name string, _ *corev1.PodLogOptions) *rest.Request {
	body := p.logs(name)
	rc := &fakerest.RESTClient{
		Client: fakerest.CreateHTTPClient(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(body))}, nil
		}),
		NegotiatedSerializer: scheme.Codecs.WithoutConversion(),
		GroupVersion:         corev1.SchemeGroupVersion,
		VersionedAPIPath:     "/api/v1/namespaces/" + p.ns + "/pods/" + name + "/log",
	}
	return rc.Request()
}

// TestTraceThroughAPI runs the whole path on the fake API: resolve, build
// the node pods, run them, merge both nodes' traces, delete the pods.
func TestTraceThroughAPI(t *testing.T) {
	c := apiCluster(t)
	ctx := context.Background()
	plan, err := Resolve(ctx, c, Request{Namespace: "shop", Pod: "client", To: "pod/server:http"})
	if err != nil {
		t.Fatal(err)
	}
	pods := NodePods(plan, PodOptions{Namespace: "shop", Session: "e2e"})
	var out, status bytes.Buffer
	s := &Session{
		Pods: pods,
		NewRunner: func() NodeRunner {
			return &APIRunner{Client: c, StartTimeout: 5 * time.Second, ExitTimeout: 5 * time.Second}
		},
		Sink:   &MergeSink{M: &Merger{Order: Order{plan.Pod.IP: plan.Pod.Node, plan.Target.IP: plan.Target.Node}, Window: time.Hour}, W: TimelineJSON{W: &out}},
		Status: &status,
	}
	if err := s.Run(ctx); err != nil {
		t.Fatalf("run: %v\nstatus:\n%s", err, status.String())
	}
	if n := len(decodeTimelines(t, out.Bytes())); n != 4 {
		t.Errorf("%d timelines, want 4", n)
	}
	for _, p := range pods {
		if _, err := c.CoreV1().Pods("shop").Get(ctx, p.Name, metaGet); !apierrors.IsNotFound(err) {
			t.Errorf("node pod %s left: %v", p.Name, err)
		}
	}
	if !strings.Contains(status.String(), "[node-b] pktlife: tracing on node-b") {
		t.Errorf("status lacks node-b's line:\n%s", status.String())
	}
}
