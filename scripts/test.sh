#!/usr/bin/env bash
# The README's test command (`sudo make test`) runs this after `make build`:
# vet, unit tests, privileged eBPF tests (real programs, real syscalls), the
# CLI end-to-end test against bin/vigil, and a short run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

export CGO_ENABLED=1

if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: privileged eBPF tests need root: run 'sudo make test'" >&2
  exit 1
fi

echo "== go vet, architecture lint, golangci-lint (depguard)"
make -s --no-print-directory lint

echo "== unit and privileged tests"
# One package at a time: each privileged package runs its own agent, and
# every agent sees the whole host (one's kill rule, another's exec storm).
VIGIL_BIN="$PWD/bin/vigil" go test -p 1 -count=1 -timeout 20m ./...

echo "== detection: every simulated attack raises its alerts; the benign workload none of medium or higher"
bash scripts/test-detection.sh

echo "== vendor rule fixtures through the CLI"
./bin/vigil rules test

echo "== fuzz smoke (${FUZZTIME:=10s} per target)"
bash scripts/fuzz.sh "$FUZZTIME"

echo "== all tests passed"
