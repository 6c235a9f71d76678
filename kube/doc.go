// Package kube is the logic of the kubectl plugin: it resolves a pod and the
// target it talks to through the Kubernetes API, derives the node tracer's
// filter, builds the short-lived privileged pod that runs `pktlife trace` on
// each node involved, streams the journeys back and merges the halves seen on
// two nodes into one timeline. Cleanup removes leftover pods and runs
// `pktlife cleanup` on their nodes the same way. It imports client-go; the
// node binary does not.
package kube
