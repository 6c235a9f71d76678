// Package netnstest builds throwaway network namespaces for kernel tests:
// named under /run/netns with a unique suffix, linked by veth pairs, and
// removed by t.Cleanup. It never touches the namespace the test runs in.
package netnstest
