# pktlife — see README.md. Everything here runs as root on Linux.

GO        ?= go
BIN       := bin
PKTLIFE   := $(BIN)/pktlife
KUBECTL   := $(BIN)/kubectl-pktlife
VMEXEC    := $(BIN)/vmexec
# The plugin's version picks its default node image, ghcr.io/pktlife/pktlife:$(VERSION).
VERSION   ?= latest
IMAGE_REPO := ghcr.io/pktlife/pktlife
IMAGE     ?= $(IMAGE_REPO):$(VERSION)
# arm64 waits for BPF objects generated for it (bpf/gen.go: -target amd64).
IMAGE_ARCHS ?= amd64
VM_KERNELS ?= 5.10 6.1 6.12 7.2
# SIGKILLs per context in the tail-call kill suite inside each VM (TCG is
# about ten times slower than this machine; make test kills 100 times each).
VM_KILLS  ?= 25
# Debian packages the generate check and the VM tests need.
GEN_DEBS  := clang-19 llvm-19 libbpf-dev
VM_DEBS   := qemu-system-x86 busybox-static iproute2 xz-utils
# Debian packages the e2e cluster needs (test/e2e/k8s).
E2E_DEBS  := containerd runc containernetworking-plugins conntrack iptables busybox-static openssl curl iproute2
# Debian packages make test compares pktlife with or reads its outputs with:
# tcpdump (filter expressions), tshark (--pcap) and headless Chromium
# (-o html), with the fonts its screenshot reference was taken with. With
# PKTLIFE_REQUIRE_TOOLS set those tests fail, instead of skipping, when a
# tool is missing.
TEST_DEBS := tcpdump tshark chromium fonts-dejavu-core

.PHONY: all build image demo test test-vm kernels-doc test-e2e deps-e2e release-check bench generate check-generate deps-generate deps-vm deps-test deps-bench clean

all: build

build:
	$(GO) build -o $(PKTLIFE) ./cmd/pktlife
	$(GO) build -ldflags "-X github.com/pktlife/pktlife/kube.Version=$(VERSION)" -o $(KUBECTL) ./cmd/kubectl-pktlife

# The node image, offline from the static binary (internal/image): an OCI
# layout tarball for ctr images import and a docker load tarball per
# architecture, under bin/image/. Reproducible: dated SOURCE_DATE_EPOCH or
# the commit's time.
image:
	$(GO) run ./internal/image/mkimage -out $(BIN)/image -version $(VERSION) -image $(IMAGE) -arch $(IMAGE_ARCHS)

# The README's first command: a throwaway topology, real packets, their journeys.
demo: build
	./$(PKTLIFE) demo

# The README's test command: pure-Go tests and, as root, the kernel tests in
# throwaway network namespaces. -p 1 keeps kernel tests of different packages
# from attaching at the same time on a 2-core machine. The Cilium test bed
# (internal/ciliumbed) compiles Cilium's BPF sources with clang-19.
test: deps-test deps-generate
	$(GO) vet ./...
	PKTLIFE_REQUIRE_TOOLS=1 $(GO) test -count=1 -p 1 -timeout 30m ./...

# Tests of what this kernel cannot run (kprobes, fentry/fexit, bonding,
# ipvlan), inside QEMU on Debian's own kernels. The Cilium test bed's
# objects are compiled here into trace/testdata/cilium, which the VM gets
# as /work/testdata/cilium (it has no go tool or clang). Each kernel also
# reports what it gives pktlife (pktlife hops) into
# $(BIN)/kernel-facts-K.json, from which `make kernels-doc` writes
# docs/kernels.md; that short boot is tried twice, since Debian's 7.2 has
# been seen to panic while unpacking its initramfs under TCG.
test-vm: deps-vm deps-generate
	CGO_ENABLED=0 $(GO) build -o $(VMEXEC) ./internal/vm/vmexec
	CGO_ENABLED=0 $(GO) build -o $(BIN)/pktlife-vm ./cmd/pktlife
	PKTLIFE_CILIUM_CACHE=$(CURDIR)/trace/testdata/cilium $(GO) run ./internal/ciliumbed/ciliumobj
	for k in $(VM_KERNELS); do ./$(VMEXEC) -prepare -kernel $$k || exit 1; done
	for k in $(VM_KERNELS); do \
		echo "== VM tests on Debian $$k"; start=$$(date +%s); \
		PKTLIFE_KILLS=$(VM_KILLS) PKTLIFE_CILIUM_CACHE=testdata/cilium CGO_ENABLED=0 $(GO) test -count=1 -p 1 -timeout 40m -exec "$(CURDIR)/$(VMEXEC) -kernel $$k" ./internal/vm/... ./trace/ ./trace/progs/... || exit 1; \
		./$(VMEXEC) -kernel $$k $(BIN)/pktlife-vm hops -o json --features > $(BIN)/kernel-facts-$$k.json || \
		./$(VMEXEC) -kernel $$k $(BIN)/pktlife-vm hops -o json --features > $(BIN)/kernel-facts-$$k.json || exit 1; \
		echo "== Debian $$k: $$(( $$(date +%s) - start ))s"; \
	done

# kubectl pktlife against a real one-node cluster (test/e2e): Kubernetes
# built from the module proxy (cached in ~/.cache/pktlife/k8s; ~12 min
# cold), containerd from Debian, the node image of make image loaded with
# ctr. The cluster lives in a temporary directory and is torn down after.
test-e2e: deps-e2e
	$(MAKE) image VERSION=e2e
	PKTLIFE_E2E_IMAGE_TAR=$(CURDIR)/$(BIN)/image/pktlife-oci.tar PKTLIFE_E2E_IMAGE=$(IMAGE_REPO):e2e \
		$(GO) test -tags e2e -count=1 -v -timeout 45m ./test/e2e/

deps-e2e:
	@command -v containerd >/dev/null && command -v runc >/dev/null && test -x /usr/lib/cni/bridge && command -v conntrack >/dev/null && \
		command -v iptables >/dev/null && test -x /bin/busybox && command -v openssl >/dev/null && command -v curl >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(E2E_DEBS))

# The release (.goreleaser.yaml, .github/workflows/release.yml) without
# publishing anything: the workflow linted, goreleaser's config checked and a
# snapshot of every archive, checksum and the krew manifest under dist/.
GORELEASER := $(GO) run github.com/goreleaser/goreleaser/v2@v2.17.0
ACTIONLINT := $(GO) run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
release-check:
	$(ACTIONLINT) .github/workflows/*.yml
	$(GORELEASER) check
	$(GORELEASER) release --snapshot --clean --skip=publish

# docs/kernels.md from the facts the last make test-vm collected.
kernels-doc:
	$(GO) run ./internal/vm/kerneldoc $(foreach k,$(VM_KERNELS),$(BIN)/kernel-facts-$(k).json) > docs/kernels.md

# Performance (docs/performance.md): Go's benchmarks of decoding,
# correlation and rendering, then plbench, which floods the demo node
# untraced and traced and prints every figure against its baseline and
# target, and tcpdump's on the same floods (BENCH_DEBS). Not part of test;
# root for the kernel sections.
bench: deps-bench
	$(GO) test -run '^$$' -bench . -benchmem ./trace/ ./trace/journey/ ./render/ ./internal/bench/
	$(GO) build -o $(BIN)/plbench ./internal/bench/plbench
	./$(BIN)/plbench

# Rebuild the BPF objects with Debian's clang-19.
generate: deps-generate
	$(GO) generate ./bpf/...

# CI: the committed objects must be what the sources produce.
check-generate: generate
	git diff --exit-code -- bpf/ || (echo "committed BPF objects are stale: run make generate" && exit 1)

deps-generate:
	@command -v clang-19 >/dev/null && command -v llvm-strip-19 >/dev/null && test -f /usr/include/bpf/bpf_helpers.h || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(GEN_DEBS))

# Debian packages make test compares pktlife with or reads its outputs with:
# tcpdump (filter expressions), tshark (--pcap) and headless Chromium
# (-o html), with the fonts its screenshot reference was taken with. With
# PKTLIFE_REQUIRE_TOOLS set those tests fail, instead of skipping, when a
# tool is missing.
TEST_DEBS := tcpdump tshark chromium fonts-dejavu-core

deps-test:
	@command -v tcpdump >/dev/null && command -v tshark >/dev/null && command -v chromium >/dev/null && test -d /usr/share/fonts/truetype/dejavu || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_DEBS))

# Debian packages make bench measures beside pktlife: tcpdump on the same floods.
BENCH_DEBS := tcpdump

deps-bench:
	@test -x /usr/bin/tcpdump || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BENCH_DEBS))

deps-vm:
	@command -v qemu-system-x86_64 >/dev/null && test -x /bin/busybox && command -v xz >/dev/null && test -x /usr/sbin/ip || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(VM_DEBS))

clean:
	rm -rf $(BIN)
