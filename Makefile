# Vigil build. `sudo make run` and `sudo make test` are the two commands the
# README promises; each installs what it needs through `make deps`.
SHELL := /bin/bash
GO ?= go
CLANG ?= clang
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -Ibpf -Ibpf/include
export CGO_ENABLED := 1
GOFLAGS_STATIC = -tags netgo,osusergo -trimpath \
	-ldflags '-s -w -X github.com/vigil-sec/vigil/pkg/version.Version=$(VERSION) -X github.com/vigil-sec/vigil/pkg/version.Commit=$(COMMIT) -extldflags "-static"'
BPF_OBJS := pkg/sensor/obj/vigil.bpf.o pkg/sensor/obj/probe.bpf.o
BPF_DEPS := $(wildcard bpf/*.h bpf/lib/*.h)

NFPM := build/nfpm
NFPM_VERSION := v2.45.2
GOLANGCI := build/golangci-lint
GOLANGCI_VERSION := v2.15.0
# Package versions come from git: 0.1.<number of commits>; the binary reports
# the same version (vigil version), with the commit beside it.
PKG_VERSION ?= 0.1.$(shell git rev-list --count HEAD 2>/dev/null || echo 0)
VERSION ?= $(PKG_VERSION)
COMMIT ?= $(shell git describe --always --dirty --exclude '*' 2>/dev/null)
# Where the binary and the packages go (the package test builds a second,
# newer version elsewhere).
BIN ?= bin/vigil
DIST ?= dist

.PHONY: all deps build bpf run test test-unit test-priv bench bench-overhead fuzz lint vmlinux clean package test-packages test-fresh test-detection

all: build

deps:
	@bash scripts/deps.sh

pkg/sensor/obj/%.bpf.o: bpf/%.bpf.c $(BPF_DEPS)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

bpf: $(BPF_OBJS)

build: deps bpf
	$(GO) build $(GOFLAGS_STATIC) -o $(BIN) ./cmd/vigil
	@file $(BIN) | grep -q 'statically linked' || { echo "$(BIN) is not statically linked"; file $(BIN); exit 1; }
	@echo "built $(BIN) ($(VERSION)), statically linked"

# The main job: the all-in-one (backend, embedded NATS and the agent,
# printing one line per alert). Build output goes to stderr, so stdout
# holds only what the agent prints.
run:
	@$(MAKE) -s --no-print-directory build >&2
	@exec ./bin/vigil run

# Everything: unit, privileged eBPF, benign workload, rule fixtures, fuzz
# smoke, then the packages, units and Ansible roll-out on booted Debian.
test: build
	bash scripts/test.sh
	$(MAKE) test-packages

test-unit: bpf
	$(GO) test -count=1 ./...

# Every simulated attack against a running agent (a table of rule,
# scenario, fired, latency) and the benign workload; part of make test.
test-detection: build
	bash scripts/test-detection.sh

bench: build
	bash scripts/bench.sh

# The agent's cost on real workloads beside auditd and bpftrace, in one
# run (15-25 minutes; writes its table into docs/performance.md).
bench-overhead: build
	bash scripts/bench-overhead.sh

fuzz: bpf
	bash scripts/fuzz.sh

# vet, the architecture rules (scripts/lint.sh), and golangci-lint with
# depguard for the dependency owners (.golangci.yml).
lint: bpf $(GOLANGCI)
	$(GO) vet ./...
	bash scripts/lint.sh
	$(GOLANGCI) run ./...

$(GOLANGCI):
	GOBIN=$(CURDIR)/build $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

$(NFPM):
	GOBIN=$(CURDIR)/build $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

# deb and rpm in dist/ (PKG_VERSION=x.y.z to choose the version).
package: build $(NFPM)
	mkdir -p $(DIST)
	install -D -m 0755 $(BIN) build/pkgroot/vigil
	rm -rf build/pkgroot/docs
	$(BIN) __gendocs build/pkgroot/docs >/dev/null
	gzip -9nf build/pkgroot/docs/man/*.8
	VIGIL_PKG_VERSION=$(PKG_VERSION) $(NFPM) package -f packaging/nfpm.yaml -p deb -t $(DIST)/
	VIGIL_PKG_VERSION=$(PKG_VERSION) $(NFPM) package -f packaging/nfpm.yaml -p rpm -t $(DIST)/
	@ls -l $(DIST)/

# Install, configure, start, upgrade, downgrade, remove and purge the deb on
# a booted Debian 12 (systemd-nspawn), clone a golden image, check the rpm's
# contents and scripts, and roll out with Ansible over SSH to three hosts.
test-packages: package
	PKG_VERSION=$(PKG_VERSION) bash scripts/test-packages.sh
	PKG_VERSION=$(PKG_VERSION) bash scripts/test-ansible.sh

# The README's first five minutes on a fresh Debian 12 booted in
# systemd-nspawn: a clone of HEAD, `sudo make run`, `vigil simulate --all`,
# the threats, the UI, Ctrl-C (about 10 minutes; not in make test).
test-fresh:
	bash scripts/test-fresh.sh

# Regenerate the committed vmlinux.h from this machine's kernel BTF.
vmlinux:
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/include/vmlinux.h

clean:
	rm -rf bin build $(BPF_OBJS)
