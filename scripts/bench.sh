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
echo "   and JetStream alone in the same run: the same batches of records published with ids and consumed by a handler doing nothing"
go test -run '^$' -bench 'IngestToDetection|JetStreamFloor' -benchmem -benchtime 5x ./pkg/backend | grep -E '^Benchmark' | tee "$work/e2e"
awk '/IngestToDetection/ {for (i = 1; i < NF; i++) if ($(i+1) == "records/s") e = $i}
     /JetStreamFloor/    {for (i = 1; i < NF; i++) if ($(i+1) == "records/s") f = $i}
     END {v = "below the goal"; if (e + 0 >= 50000) v = "PASS"
          if (f > 0) printf "   end to end: %s records/s (%s); JetStream alone %.0fx that\n", e, v, f / e}' "$work/e2e"

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

# Stress: STRESS_SECONDS (60) at the highest event rate this machine makes
# (an exec storm, a write storm in a watched place, a connect storm, all at
# once), with a rule-triggering exec every half second. The agent must stay
# up with bounded memory, count what it drops per type, raise "Sensor
# degraded" with the counts when it drops anything, and lose no exec of a
# process that triggers a rule.
printf '\n== stress: %ss of exec, write and connect storms together\n' "${STRESS_SECONDS:=60}"
./bin/vigil agent --output none --alerts stdout --status-socket "$work/stress.sock" --log-level warn \
  >"$work/stress.alerts" 2>"$work/stress.err" &
agent_pid=$!
for _ in $(seq 300); do [ -S "$work/stress.sock" ] && break; sleep 0.1; done
end=$((SECONDS + STRESS_SECONDS))
mkdir -p "$work/stress-w"
( while [ $SECONDS -lt $end ]; do /bin/true; done ) &
s1=$!
python3 - "$work/stress-w" "$STRESS_SECONDS" <<'PY' &
import os, sys, time
d, t = sys.argv[1], time.time() + float(sys.argv[2])
i = 0
while time.time() < t:
    with open(os.path.join(d, "f%d" % (i % 64)), "a") as f: f.write("x")
    i += 1
PY
s2=$!
python3 - "$STRESS_SECONDS" <<'PY' &
import socket, sys, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4096)
port, t = l.getsockname()[1], time.time() + float(sys.argv[1])
import threading
threading.Thread(target=lambda: [l.accept()[0].close() for _ in iter(int, 1)], daemon=True).start()
while time.time() < t:
    s = socket.socket(); s.connect(("127.0.0.1", port)); s.close()
PY
s3=$!
markers=0
peak=0
while [ $SECONDS -lt $end ]; do
  "$work/nmap" -sS "127.0.0.$((markers % 250 + 1))" >/dev/null 2>&1 || true
  markers=$((markers + 1))
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent_pid/status" 2>/dev/null || echo 0)
  [ "$rss" -gt "$peak" ] && peak=$rss
  sleep 0.5
done
wait $s1 $s2 $s3 2>/dev/null || true
sleep 12 # the loss check runs every 10 s
alive=yes
kill -0 "$agent_pid" 2>/dev/null || alive=no
st=$(./bin/vigil status --json --socket "$work/stress.sock")
stop_agent
python3 - "$st" "$work/stress.alerts" "$markers" "$peak" "$alive" "$STRESS_SECONDS" <<'PY'
import json, sys
st, alerts, markers, peak, alive = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
secs = float(sys.argv[6])
seen, degraded = 0, []
for line in open(alerts):
    try: a = json.loads(line)
    except ValueError: continue
    if a.get("rule") == "Network scanner executed": seen += 1
    if a.get("rule") == "Sensor degraded": degraded.append(a)
drops = {t["type"]: t["ring_buffer_drops"] + t["queue_drops"] for t in st["event_types"] if t["ring_buffer_drops"] + t["queue_drops"]}
print("events received %d (%.0f/s over the storm), drops by type %s" % (st["totals"]["received"], st["totals"]["received"] / secs, drops or "none"))
print("agent up: %s; peak RSS %.1f MiB; 'Sensor degraded' alerts: %d%s" % (alive, peak / 1024, len(degraded),
      (" (" + degraded[-1].get("message", "") + ")") if degraded else ""))
print("rule-triggering execs: %d run, %d alerted" % (markers, seen))
ok = alive == "yes" and seen == markers and (not drops or degraded) and peak < 256 * 1024
print("stress: " + ("PASS" if ok else "FAIL"))
PY

# Exec rate: the issue's goal is no exec or exit lost at 2,000 execs/s. Two
# spawners per core posix_spawn a static do-nothing program as fast as the
# machine allows (the rate is measured, and must reach the goal), with the
# agent running the default rules; every exec and exit of them must be
# received (the agent's per-type counters, read before and after), with no
# ring-buffer or queue drop of either type.
printf '\n== exec rate: at least %s execs/s, every exec and exit received\n' "${EXEC_RATE_GOAL:=2000}"
cat >"$work/spawn.c" <<'C'
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
  int n = atoi(argv[1]), workers = atoi(argv[2]);
  char *args[] = {argv[3], NULL};
  for (int w = 0; w < workers; w++)
    if (fork() == 0) {
      for (int i = 0; i < n / workers; i++) {
        pid_t p;
        if (posix_spawn(&p, argv[3], NULL, NULL, args, environ) != 0 || waitpid(p, NULL, 0) != p) _exit(1);
      }
      _exit(0);
    }
  int st, ok = 1;
  while (wait(&st) > 0) ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
  return !ok;
}
C
printf 'int main(void){return 0;}\n' >"$work/nop.c"
# Outside temporary directories: a program run from /tmp is an alert each
# time (a dropper), which is not what this section measures.
bindir=$(mktemp -d /var/lib/vigil-bench-bin.XXXXXX)
gcc -O2 -o "$bindir/spawn" "$work/spawn.c"
gcc -O2 -static -o "$bindir/nop" "$work/nop.c"
N_SPAWN=${N_SPAWN:-30000}
t0=$(secs "$bindir/spawn" "$N_SPAWN" 4 "$bindir/nop") # the machine's rate without the agent
start_agent
sleep 2
before=$(status)
t=$(secs "$bindir/spawn" "$N_SPAWN" 4 "$bindir/nop")
rm -rf "$bindir"
sleep 3
after=$(status)
stop_agent
python3 - "$before" "$after" "$N_SPAWN" "$t" "$EXEC_RATE_GOAL" "$t0" <<'PY'
import json, sys
b, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
n, secs, goal, secs0 = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
print("without the agent: %.0f execs/s; with it: %.0f/s (time ratio %.3f)" % (n / secs0, n / secs, secs / secs0))
def types(s): return {t["type"]: t for t in s["event_types"]}
tb, ta = types(b), types(a)
def delta(typ, key): return ta.get(typ, {}).get(key, 0) - tb.get(typ, {}).get(key, 0)
rate = n / secs
ok = rate >= goal
for typ in ("exec", "exit"):
    got = delta(typ, "received")
    lost = delta(typ, "ring_buffer_drops") + delta(typ, "queue_drops")
    print("%s: %d spawned at %.0f/s, %d received (others' included), %d dropped" % (typ, n, rate, got, lost))
    ok = ok and got >= n and lost == 0
print("exec rate: " + ("PASS" if ok else "FAIL") + ("" if rate >= goal else " (the machine spawned %.0f/s, below the goal)" % rate))
PY
