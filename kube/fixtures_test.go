package kube

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// A small cluster: client on node-a, server and db on node-b, a pending
// pod, services of each kind.
func testPod(name, node, ip string, phase corev1.PodPhase, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app", Ports: ports}}},
		Status:     corev1.PodStatus{Phase: phase, PodIP: ip},
	}
}

func testService(name string, typ corev1.ServiceType, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec:       corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP, Ports: ports},
	}
	if clusterIP != "" {
		s.Spec.ClusterIPs = []string{clusterIP}
	}
	return s
}

func testCluster() *fake.Clientset {
	pending := testPod("starting", "node-a", "", corev1.PodPending)
	pending.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}
	hostnet := testPod("agent", "node-a", "192.168.0.10", corev1.PodRunning)
	hostnet.Spec.HostNetwork = true
	objs := []runtime.Object{
		testPod("client", "node-a", "10.244.1.5", corev1.PodRunning),
		testPod("neighbour", "node-a", "10.244.1.9", corev1.PodRunning, corev1.ContainerPort{Name: "http", ContainerPort: 8080}),
		testPod("server", "node-b", "10.244.2.7", corev1.PodRunning,
			corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
			corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}),
		pending, hostnet,
		testService("web", corev1.ServiceTypeClusterIP, "10.96.0.20",
			corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}),
		testService("multi", corev1.ServiceTypeClusterIP, "10.96.0.21",
			corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
			corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}),
		testService("headless", corev1.ServiceTypeClusterIP, "None", corev1.ServicePort{Port: 80}),
		func() runtime.Object {
			s := testService("ext", corev1.ServiceTypeExternalName, "")
			s.Spec.ExternalName = "db.example.com"
			return s
		}(),
	}
	return fake.NewClientset(objs...)
}

var (
	metaGet    = metav1.GetOptions{}
	metaCreate = metav1.CreateOptions{}
	metaUpdate = metav1.UpdateOptions{}
)
