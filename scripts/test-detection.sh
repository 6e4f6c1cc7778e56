#!/usr/bin/env bash
# Detection regression harness (make test-detection; make test runs it):
# every `vigil simulate` scenario against a running agent with the vendor
# rules, then the benign workload (scripts/benign.sh). Prints one row per
# expected rule (scenario, fired, latency from the scenario's start to the
# first alert) and fails on any miss, or on any medium+ alert of the benign
# workload. Needs root and bin/vigil.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/agent.sh
. scripts/lib/agent.sh
[ "$(id -u)" -eq 0 ] || { echo "test-detection.sh: needs root" >&2; exit 1; }

work=$(mktemp -d /root/vigil-detection.XXXXXX)
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Under make, every process descends from make, which the build-tool
# exceptions excuse: only real compilers stay build tools. The simulator
# fakes the metadata service at 127.0.0.254.
mkdir -p "$work/rules.d"
cat > "$work/rules.d/50-detection.yaml" <<'YAML'
- list: build_tools
  override: {items: replace}
  items: [gcc, cc, ld]
- list: imds_addresses
  override: {items: append}
  items: [127.0.0.254]
YAML
start_agent "$work" "$work/alerts.json"

rc=0
./bin/vigil simulate --all --json --socket "$work/agent.sock" > "$work/simulate.json" || rc=$?
sleep 1
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=

python3 - "$work/simulate.json" "$work/alerts.json" <<'PY' || rc=1
import datetime, json, sys

def ts(s):
    # RFC 3339 with nanoseconds: keep microseconds for Python.
    s = s.replace("Z", "+00:00")
    head, _, tz = s.partition("+")
    if "." in head:
        a, b = head.split(".")
        head = a + "." + b[:6]
    return datetime.datetime.fromisoformat(head + "+" + tz)

results = json.load(open(sys.argv[1]))
first = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if not line:
        continue
    a = json.loads(line)
    if a.get("schema") != "vigil.alert/1":
        continue
    first.setdefault(a["rule"], []).append(ts(a["time"]))
rows, misses = [], 0
for r in results:
    for rule in r["rules"]:
        if r.get("skipped"):
            rows.append((rule, r["name"], "skipped", r["skipped"]))
            continue
        start = ts(r["start"])
        after = [t for t in first.get(rule, []) if t >= start - datetime.timedelta(milliseconds=50)]
        if after and rule not in (r.get("missing") or []):
            rows.append((rule, r["name"], "yes", "%.0f ms" % ((min(after) - start).total_seconds() * 1000)))
        else:
            misses += 1
            rows.append((rule, r["name"], "MISSED", r.get("error", "")))
w = max(len(x[0]) for x in rows)
print("%-*s  %-20s  %-7s  %s" % (w, "RULE", "SCENARIO", "FIRED", "LATENCY"))
for row in rows:
    print("%-*s  %-20s  %-7s  %s" % (w, row[0], row[1], row[2], row[3]))
print("detection: %d expected alerts, %d missed" % (len(rows), misses))
sys.exit(1 if misses else 0)
PY

echo "== benign workload: no alert of medium or higher"
bash scripts/benign.sh || rc=1
exit $rc
