# pktlife — see README.md. Everything here runs as root on Linux.

GO        ?= go
BIN       := bin
PKTLIFE   := $(BIN)/pktlife
KUBECTL   := $(BIN)/kubectl-pktlife
VMEXEC    := $(BIN)/vmexec
# The plugin's version picks its default node image, ghcr.io/pktlife/pktlife:$(VERSION).
VERSION   ?= latest
IMAGE     ?= ghcr.io/pktlife/pktlife:$(VERSION)
# arm64 waits for BPF objects generated for it (bpf/gen.go: -target amd64).
IMAGE_ARCHS ?= amd64
VM_KERNELS ?= 6.12 6.1
# SIGKILLs per context in the tail-call kill suite inside each VM (TCG is
# about ten times slower than this machine; make test kills 100 times each).
VM_KILLS  ?= 25
# Debian packages the generate check and the VM tests need.
GEN_DEBS  := clang-19 llvm-19 libbpf-dev
VM_DEBS   := qemu-system-x86 busybox-static iproute2 xz-utils
# Debian packages make test compares pktlife with or reads its outputs with:
# tcpdump (filter expressions), tshark (--pcap) and headless Chromium
# (-o html), with the fonts its screenshot reference was taken with. With
# PKTLIFE_REQUIRE_TOOLS set those tests fail, instead of skipping, when a
# tool is missing.
TEST_DEBS := tcpdump tshark chromium fonts-dejavu-core

.PHONY: all build image demo test test-vm bench generate check-generate deps-generate deps-vm deps-test clean

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
# as /work/testdata/cilium (it has no go tool or clang).
test-vm: deps-vm deps-generate
	CGO_ENABLED=0 $(GO) build -o $(VMEXEC) ./internal/vm/vmexec
	PKTLIFE_CILIUM_CACHE=$(CURDIR)/trace/testdata/cilium $(GO) run ./internal/ciliumbed/ciliumobj
	for k in $(VM_KERNELS); do ./$(VMEXEC) -prepare -kernel $$k || exit 1; done
	for k in $(VM_KERNELS); do \
		echo "== VM tests on Debian $$k"; \
		PKTLIFE_KILLS=$(VM_KILLS) PKTLIFE_CILIUM_CACHE=testdata/cilium CGO_ENABLED=0 $(GO) test -count=1 -p 1 -timeout 40m -exec "$(CURDIR)/$(VMEXEC) -kernel $$k" ./internal/vm/... ./trace/ ./trace/progs/... || exit 1; \
	done

# Performance (docs/performance.md): Go's benchmarks of decoding,
# correlation and rendering, then plbench, which floods the demo node
# untraced and traced and prints every figure against its baseline and
# target. Not part of test; root for the kernel sections.
bench:
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

deps-vm:
	@command -v qemu-system-x86_64 >/dev/null && test -x /bin/busybox && command -v xz >/dev/null && test -x /usr/sbin/ip || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(VM_DEBS))

clean:
	rm -rf $(BIN)
