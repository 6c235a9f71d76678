// Package e2e tests kubectl pktlife against a real one-node Kubernetes
// cluster: the API server, kubelet, containerd and kube-proxy of one
// release, built from the Go module proxy and brought up on this machine
// by the scripts in k8s/ (after the project's notes in RECIPE.md), with
// the node image of make image loaded by ctr. Its tests are behind the
// e2e build tag and run by make test-e2e, as root.
package e2e
