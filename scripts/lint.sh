#!/usr/bin/env bash
# Architecture rules the compiler does not enforce. The owners of dangerous
# dependencies (libbpfgo and cilium/ebpf: pkg/sensor; nats.go: pkg/transport;
# os/exec: pkg/simulate) are golangci-lint's depguard rules (.golangci.yml,
# make lint); here:
# - cmd/ stays a trampoline: it imports only pkg/cli among our packages;
# - pkg/wire (subjects, stream specs, message ids) imports only the
#   standard library, so the agent and the backend share it;
# - only pkg/response (and pkg/simulate's re-enactments) send signals;
# - gofmt is clean.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
while read -r pkg imports; do
  # Shared wire values are pure: the standard library only.
  if [ "$pkg" = "github.com/vigil-sec/vigil/pkg/wire" ]; then
    for i in $imports; do
      case "$i" in
        *.*/*) echo "lint: $pkg imports $i; pkg/wire holds plain values (standard library only)" >&2; fail=1 ;;
      esac
    done
  fi
  if [[ "$pkg" == github.com/vigil-sec/vigil/cmd/* ]]; then
    for i in $imports; do
      if [[ "$i" == github.com/vigil-sec/vigil/* && "$i" != github.com/vigil-sec/vigil/pkg/cli ]]; then
        echo "lint: $pkg imports $i; cmd/ may import only pkg/cli" >&2; fail=1
      fi
    done
  fi
done < <(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)
# kill(2): the kill response (pkg/response) and the re-enactments
# (pkg/simulate) only.
while read -r f; do
  case "$f" in pkg/response/*|pkg/simulate/*|*_test.go) ;; *) echo "lint: $f sends signals; only pkg/response may" >&2; fail=1 ;; esac
done < <(grep -lE '(syscall|unix)\.Kill\(' $(git ls-files '*.go') 2>/dev/null || true)
# The backend builds without cgo (it ships and runs anywhere): no package
# under pkg/backend may need C, directly or through a dependency.
if grep -lE '^import "C"' $(git ls-files 'pkg/backend/*.go') /dev/null 2>/dev/null | grep -q .; then
  echo "lint: cgo in pkg/backend" >&2; fail=1
fi
if ! CGO_ENABLED=0 go build ./pkg/backend/... 2>/tmp/vigil-lint-cgo.log; then
  echo "lint: pkg/backend does not build without cgo:" >&2; cat /tmp/vigil-lint-cgo.log >&2; fail=1
fi
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "lint: gofmt needed: $unformatted" >&2; fail=1; fi
[ "$fail" = 0 ] && echo "lint: ok"
exit "$fail"
