# shellcheck shell=bash
# A local agent for the workload harnesses (scripts/benign.sh,
# scripts/test-detection.sh), sourced by them.

# start_agent DIR ALERTS: starts ./bin/vigil agent with the vendor rules and
# the admin rules in DIR/rules.d, alerts as JSON lines in ALERTS, its status
# socket DIR/agent.sock; sets agent_pid and waits until it serves.
start_agent() {
  local dir=$1 alerts=$2
  ./bin/vigil agent --output none --alerts stdout --status-socket "$dir/agent.sock" --log-level warn \
    --rules "$dir/rules.d" > "$alerts" 2> "$dir/agent.err" &
  agent_pid=$!
  for _ in $(seq 300); do [ -S "$dir/agent.sock" ] && break; sleep 0.1; done
  [ -S "$dir/agent.sock" ] || { cat "$dir/agent.err"; return 1; }
}
