// Command kubectl-pktlife is the kubectl plugin of pktlife: `kubectl pktlife
// trace POD` runs the tracer on the pod's node in a short-lived privileged
// pod and shows the pod's packets hop by hop. It is a second binary so the
// node binary stays free of client-go; the logic lives in package kube.
package main
