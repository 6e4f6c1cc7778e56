#!/usr/bin/env bash
# Architecture rules the compiler does not enforce:
# - pkg/sensor is the only importer of libbpfgo and cilium/ebpf, and
#   pkg/simulate of os/exec, pkg/transport of nats.go (one owner per
#   dangerous dependency; tests aside);
# - cmd/ stays a trampoline: it imports only pkg/cli among our packages;
# - pkg/wire (subjects, stream specs, message ids) imports only the
#   standard library, so the agent and the backend share it;
# - only pkg/response (and pkg/simulate's re-enactments) send signals;
# - gofmt is clean.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
while read -r pkg imports; do
  for i in $imports; do
    case "$i" in
      github.com/aquasecurity/libbpfgo*|github.com/cilium/ebpf*)
        if [ "$pkg" != "github.com/vigil-sec/vigil/pkg/sensor" ]; then
          echo "lint: $pkg imports $i; only pkg/sensor may" >&2; fail=1
        fi ;;
      github.com/nats-io/nats.go*)
        if [ "$pkg" != "github.com/vigil-sec/vigil/pkg/transport" ]; then
          echo "lint: $pkg imports $i; only pkg/transport may" >&2; fail=1
        fi ;;
      os/exec)
        if [ "$pkg" != "github.com/vigil-sec/vigil/pkg/simulate" ]; then
          echo "lint: $pkg imports os/exec; only pkg/simulate may (tests aside)" >&2; fail=1
        fi ;;
    esac
  done
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
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "lint: gofmt needed: $unformatted" >&2; fail=1; fi
[ "$fail" = 0 ] && echo "lint: ok"
exit "$fail"
