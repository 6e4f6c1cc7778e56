#!/usr/bin/env bash
# Real-system tests of the Ansible canary rollout (make test-packages): three
# Debian 12 hosts booted with systemd-nspawn, reached over SSH on loopback
# ports, `vigil backend` (embedded NATS with JetStream) on the host, and
# deploy/ansible/site.yml with the vigil role (h1 and h2 enroll with one
# deployment token, h3 with its own NKey seed):
#   1. ansible-lint is clean;
#   2. the rollout (serial 1, 10%, 100%) installs, configures, enrolls and
#      passes the health gate on every host; their heartbeats reach the stream;
#   3. a second run changes nothing; an upgrade and a rollback (downgrade)
#      go through the same gated batches;
#   4. a host that fails its health gate stops the rollout: the next batch is
#      never touched.
# Needs root; PKG_VERSION names the deb in dist/ (make passes it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/lib/nspawn.sh
. scripts/lib/nspawn.sh

V1=${PKG_VERSION:?run through make test-packages}
DEB1=$ROOT/dist/vigil_${V1}_amd64.deb
VIGIL=$ROOT/bin/vigil
WORK=$(mktemp -d /var/tmp/vigil-ansible.XXXXXX)
NATS_PID=""
HOSTS=(h1 h2 h3)

cleanup() {
  local rc=$?
  shutdown_all
  [ -z "$NATS_PID" ] || kill "$NATS_PID" 2>/dev/null || true
  if [ $rc -eq 0 ] || [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

log "ansible-lint"
(cd deploy/ansible && ansible-lint --offline -q site.yml roles/vigil) || fail "ansible-lint"
pass "ansible-lint clean"

[ -f "$DEB1" ] || fail "missing $DEB1 (make package)"
log "the backend on the host (embedded NATS, no anonymous access): one deployment token for the environment; h3 keeps a per-host NKey seed"
PORT=$(free_port)
HTTP=$(free_port)
mkdir -p "$WORK/inv/host_vars"
h3_user=$("$VIGIL" enroll --config /dev/null --host-id h3 --seed "$WORK/h3.nk" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["nkey"])')
printf 'vigil_enroll_token: ""\nvigil_nats_nkey_seed: "%s"\n' "$(cat "$WORK/h3.nk")" > "$WORK/inv/host_vars/h3.yml"
printf 'env: canary\nnats:\n  allow_anonymous: false\n  users:\n    - {nkey: %s, publish_allow: ["vigil.>"], subscribe_allow: ["_INBOX.>"]}\n' "$h3_user" > "$WORK/backend.yaml"
"$VIGIL" backend --config "$WORK/backend.yaml" --data-dir "$WORK/backend" --nats-listen "127.0.0.1:$PORT" --listen "127.0.0.1:$HTTP" \
  > "$WORK/backend.log" 2>&1 &
NATS_PID=$!
API=(--api "http://127.0.0.1:$HTTP" --token-file "$WORK/backend/admin.token")
for i in $(seq 1 120); do [ -s "$WORK/backend/admin.token" ] && "$VIGIL" backend hosts list "${API[@]}" >/dev/null 2>&1 && break; sleep 0.5; done
TOKEN=$("$VIGIL" backend token create --kind enroll --env canary --name ansible "${API[@]}" 2>/dev/null)
TOKEN2=$("$VIGIL" backend token create --kind enroll --env canary2 --name ansible2 "${API[@]}" 2>/dev/null)
case $TOKEN$TOKEN2 in vge_*vge_*) ;; *) fail "deployment tokens: '$TOKEN' '$TOKEN2'" ;; esac
# sensors ENV: how many hosts of ENV the backend hears from.
sensors() { "$VIGIL" sensors --json "${API[@]}" | python3 -c 'import json,sys; print(len([s for s in json.load(sys.stdin)["sensors"] if s["env"]==sys.argv[1] and s["status"]=="ok"]))' "$1"; }

log "boot three hosts with sshd on loopback ports"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id"
{
  echo "[vigil_agents]"
  for h in "${HOSTS[@]}"; do
    p=$(free_port)
    new_guest "$WORK/$h"
    mkdir -p "$WORK/$h/root/.ssh"
    install -m 0600 "$WORK/id.pub" "$WORK/$h/root/.ssh/authorized_keys"
    printf 'Port %s\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\n' "$p" > "$WORK/$h/etc/ssh/sshd_config.d/vigil-test.conf"
    echo "$h ansible_host=127.0.0.1 ansible_port=$p"
  done
  cat <<EOF

[vigil_agents:vars]
ansible_user=root
ansible_ssh_private_key_file=$WORK/id
ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'
ansible_python_interpreter=/usr/bin/python3
vigil_package_file=$DEB1
vigil_nats_url=nats://127.0.0.1:$PORT
vigil_env=canary
vigil_enroll_token=$TOKEN
vigil_health_timeout=30
EOF
} > "$WORK/inv/hosts.ini"
for h in "${HOSTS[@]}"; do boot "$h" "$WORK/$h"; done

play() { # LOG [extra args]
  local out=$1
  shift
  ANSIBLE_ROLES_PATH=$ROOT/deploy/ansible/roles ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_NOCOLOR=1 \
    ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0 \
    ansible-playbook -i "$WORK/inv/hosts.ini" "$ROOT/deploy/ansible/site.yml" "$@" > "$out" 2>&1
}
recap() { awk '/^PLAY RECAP/{on=1;next} on && NF' "$1"; }

log "rollout"
play "$WORK/run1.log" || { cat "$WORK/run1.log"; fail "first rollout"; }
recap "$WORK/run1.log"
for h in "${HOSTS[@]}"; do
  recap "$WORK/run1.log" | grep -qE "^$h +: ok=[0-9]+ +changed=[1-9][0-9]* +unreachable=0 +failed=0" || fail "$h not rolled out"
  [ "$(guest "$h" systemctl is-active vigil-agent)" = active ] || fail "$h: agent not active"
done
for h in h1 h2; do
  [ "$(guest "$h" stat -c %a /var/lib/vigil/nats.nk)" = 600 ] || fail "$h: generated seed not 0600"
  [ "$(guest "$h" stat -c %a /etc/default/vigil)" = 600 ] || fail "$h: the environment file with the token is not 0600"
done
[ "$(guest h3 stat -c %a /etc/vigil/nats.nk)" = 600 ] || fail "h3: seed not 0600"
! guest h3 grep -q VIGIL_ENROLL_TOKEN /etc/default/vigil || fail "h3 got the token"
# Batches of 1, 1 and 1 in that order, each gated.
[ "$(grep -c '^PLAY \[' "$WORK/run1.log")" = 3 ] || fail "expected three batches"
! grep -q 'SU[A-Z0-9]\{20,\}' "$WORK/run1.log" || fail "a seed appears in the Ansible output"
! grep -qF "$TOKEN" "$WORK/run1.log" || fail "the deployment token appears in the Ansible output"
hb() { [ "$(sensors canary)" = 3 ]; }
for i in $(seq 1 20); do hb && break; sleep 1; done
hb || fail "heartbeats from three hosts"
[ "$("$VIGIL" backend hosts list --json "${API[@]}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["hosts"]))')" = 2 ] \
  || fail "h1 and h2 are not the two enrolled hosts"
pass "three hosts rolled out in canary batches, each through its health gate (h1, h2 enrolled with the token, h3 with its seed); heartbeats from all three"

log "second run"
play "$WORK/run2.log" || { cat "$WORK/run2.log"; fail "second rollout"; }
recap "$WORK/run2.log"
for h in "${HOSTS[@]}"; do
  recap "$WORK/run2.log" | grep -qE "^$h +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0" || fail "$h changed on the second run"
done
pass "second run: changed=0 on every host"

DEB2=$ROOT/build/pkgtest/next/vigil_${V1}.1_amd64.deb
if [ -f "$DEB2" ]; then
  log "upgrade with the role, then roll back (downgrade allowed)"
  play "$WORK/run-up.log" -e vigil_package_file="$DEB2" || { cat "$WORK/run-up.log"; fail "upgrade rollout"; }
  for h in "${HOSTS[@]}"; do
    [ "$(guest "$h" dpkg-query -W -f '${Version}' vigil)" = "$V1.1" ] || fail "$h not upgraded"
  done
  play "$WORK/run-down.log" -e vigil_package_file="$DEB1" || { cat "$WORK/run-down.log"; fail "rollback rollout"; }
  for h in "${HOSTS[@]}"; do
    [ "$(guest "$h" dpkg-query -W -f '${Version}' vigil)" = "$V1" ] || fail "$h not rolled back"
    [ "$(guest "$h" systemctl is-active vigil-agent)" = active ] || fail "$h: agent not active after rollback"
  done
  pass "upgraded to $V1.1 and rolled back to $V1 through the gated rollout"
fi

log "a host failing its health gate stops the rollout"
# A new environment for everyone; h2 (second batch) points at a dead port.
printf 'vigil_nats_url: nats://127.0.0.1:%s\n' "$(free_port)" >> "$WORK/inv/host_vars/h2.yml"
if play "$WORK/run3.log" -e vigil_env=canary2 -e vigil_enroll_token="$TOKEN2" -e vigil_health_timeout=10; then
  cat "$WORK/run3.log"
  fail "the rollout went on past a failed gate"
fi
recap "$WORK/run3.log"
grep -q 'h2: no heartbeat acknowledged' "$WORK/run3.log" || { cat "$WORK/run3.log"; fail "h2 did not fail its gate"; }
recap "$WORK/run3.log" | grep -qE '^h1 +: .*changed=[1-9]' || fail "h1 (first batch) was not updated"
! recap "$WORK/run3.log" | grep -q '^h3 ' || fail "h3 (next batch) was touched"
guest h3 grep -q '^VIGIL_ENV=canary$' /etc/default/vigil || fail "h3's configuration changed"
guest h1 grep -q '^VIGIL_ENV=canary2$' /etc/default/vigil || fail "h1's configuration not updated"
[ "$(sensors canary2)" = 1 ] || fail "h1 does not deliver in canary2 (moved with the canary2 token)"
pass "h2 failed its gate; the rollout stopped before h3; h1 moved to canary2 with that environment's token"

log "all Ansible tests passed"
