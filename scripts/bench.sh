#!/usr/bin/env bash
# `make bench`: micro-benchmarks of the hot path, then the agent under load.
# Costs are reported against a baseline measured in the same run: each
# workload runs without the agent and with it, alternately, 3 times; medians.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench.sh: needs root" >&2; exit 1; }

N_EXEC=${N_EXEC:-3000}
N_OPEN=${N_OPEN:-200000}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d /tmp/vigil-bench.XXXXXX)
trap 'kill $agent_pid 2>/dev/null || true; rm -rf "$work"' EXIT
agent_pid=

echo "== micro-benchmarks (ns/event, allocations/event)"
go test -run '^$' -bench . -benchmem -benchtime 2s ./pkg/event ./pkg/proc ./pkg/engine | grep -E '^Benchmark'

echo "== cloud detections: CloudTrail parse + detect on one core (goal >= 100,000 records/s); detect alone"
go test -run '^$' -bench . -benchmem -benchtime 2s -cpu 1 ./pkg/rules/cloud | grep -E '^Benchmark'

echo "== backend end to end: ingest -> cloud stream -> detection stage -> detection stream (embedded NATS, file storage; goal >= 50,000 records/s)"
echo "   against JetStream alone in the same run: the same messages published with ids and consumed by a handler doing nothing"
go test -run '^$' -bench 'IngestToDetection|JetStreamFloor' -benchmem -benchtime 5x ./pkg/backend | grep -E '^Benchmark' | tee "$work/e2e"
awk '/IngestToDetection/ {for (i = 1; i < NF; i++) if ($(i+1) == "records/s") e = $i}
     /JetStreamFloor/    {for (i = 1; i < NF; i++) if ($(i+1) == "records/s") f = $i}
     END {if (f > 0) printf "   end to end / JetStream alone: %.2f\n", e / f}' "$work/e2e"

echo "== correlation: one core, 10,000 active hosts (goal >= 20,000 detections/s), memory per active entity; engine latency"
go test -run '^$' -bench . -benchmem -cpu 1 -benchtime 200000x ./pkg/correlate | grep -E '^Benchmark'

echo "== detection to threat through NATS: published detection -> correlation -> KV -> the API's view (p50, p99)"
go test -run '^$' -bench DetectionToThreat -benchtime 2000x ./pkg/backend | grep -E '^Benchmark'

echo "== alert delivery: spool + JetStream publish with acks (file storage, TCP)"
go test -run '^$' -bench PublishAcked -benchtime 50000x ./pkg/transport | grep -E '^Benchmark'

# Workloads.
printf 'int f(int x){return x*x;}\nint main(void){int s=0;for(int i=0;i<1000;i++)s+=f(i);return s&1;}\n' > "$work/prog.c"
echo secret > "$work/unwatched.txt"
exec_storm()  { for ((i = 0; i < N_EXEC; i++)); do /bin/true; done; }
open_watched() { python3 -c "
for _ in range($N_OPEN): open('/etc/shadow').close()"; }
open_filtered() { python3 -c "
for _ in range($N_OPEN): open('$work/unwatched.txt').close()"; }
compile()     { for ((i = 0; i < 40; i++)); do gcc -O2 -o "$work/prog" "$work/prog.c"; done; }

secs() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
status() { ./bin/vigil status --json --socket "$work/agent.sock"; }
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

start_agent() {
  ./bin/vigil agent --output none --status-socket "$work/agent.sock" --log-level warn 2>"$work/agent.err" &
  agent_pid=$!
  for _ in $(seq 300); do [ -S "$work/agent.sock" ] && return 0; sleep 0.1; done
  cat "$work/agent.err"; exit 1
}
stop_agent() { kill "$agent_pid"; wait "$agent_pid" || true; agent_pid=; }

printf '\n== agent cost per workload (median of %d rounds)\n' "$ROUNDS"
printf '%-28s %10s %10s %8s %10s %14s\n' workload "base s" "agent s" ratio events "agent CPU s/1k ev"
for w in exec_storm open_watched open_filtered compile; do
  base=(); with=(); cpu=(); evs=()
  for ((r = 0; r < ROUNDS; r++)); do
    base+=("$(secs $w)")
    start_agent
    before=$(status)
    with+=("$(secs $w)")
    sleep 0.5
    after=$(status)
    stop_agent
    c0=$(echo "$before" | field "d['cpu_seconds']"); c1=$(echo "$after" | field "d['cpu_seconds']")
    e0=$(echo "$before" | field "d['totals']['received']"); e1=$(echo "$after" | field "d['totals']['received']")
    cpu+=("$(echo "$c1 - $c0" | bc -l)"); evs+=("$((e1 - e0))")
  done
  b=$(median "${base[@]}"); a=$(median "${with[@]}"); c=$(median "${cpu[@]}"); n=$(median "${evs[@]}")
  per=$( [ "$n" -gt 0 ] && echo "scale=4; $c * 1000 / $n" | bc -l || echo "-")
  printf '%-28s %10.3f %10.3f %8.3f %10d %14s\n' "$w" "$b" "$a" "$(echo "$a / $b" | bc -l)" "$n" "$per"
done
echo
echo "ratio = workload wall time with the agent / without (1.000 = no cost)."
echo "events = records the agent received during the workload (all host activity)."

printf '\n== syscall to alert latency (exec of a tool named nmap, %d times)\n' "${N_ALERTS:=200}"
cp /bin/true "$work/nmap"
python3 - "$work" "$N_ALERTS" <<'PY'
import json, subprocess, sys, time, datetime, os
work, n = sys.argv[1], int(sys.argv[2])
agent = subprocess.Popen(["./bin/vigil", "agent", "--output", "none", "--alerts", "stdout",
                          "--status-socket", work + "/lat.sock", "--log-level", "warn"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
for _ in range(300):
    if os.path.exists(work + "/lat.sock"):
        break
    time.sleep(0.1)
lat = []
try:
    for i in range(n):
        subprocess.run([work + "/nmap", "-sS", "127.0.0.%d" % (i % 250 + 1)])
        while True:
            line = agent.stdout.readline()
            now = time.time()
            a = json.loads(line)
            if a.get("rule") == "Network scanner executed":
                t = a["time"]
                base, frac = t[:19], t[20:-1] if "." in t else "0"
                ev = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp() + float("0." + frac)
                lat.append((now - ev) * 1000)
                break
        time.sleep(0.02)
finally:
    agent.terminate(); agent.wait()
lat.sort()
print("alerts %d, median %.1f ms, p99 %.1f ms, max %.1f ms" % (len(lat), lat[len(lat)//2], lat[int(len(lat)*0.99)-1], lat[-1]))
PY
