// Package image builds pktlife's node image offline: the static pktlife
// binary as the only file of a scratch image, for each Linux architecture,
// gathered in one OCI image index. It writes an OCI image layout tarball
// (ctr images import) and, per architecture, a docker save tarball (docker
// load), with go-containerregistry; nothing is pulled and no container
// engine is needed. The output is reproducible: same binaries and
// [Config], same digests.
package image
