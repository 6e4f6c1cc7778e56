#!/usr/bin/env bash
# Real-system tests of the packages (make test-packages), on Debian 12 booted
# with systemd in systemd-nspawn:
#   1. the deb installs with apt, enabled but inactive, units verify clean;
#   2. configured with an enrolled NKey credential against a NATS server on
#      the host, it starts, `vigil status` reports acknowledged heartbeats,
#      and an alert from `vigil simulate` inside the guest reaches the stream;
#   3. an upgrade keeps the configuration and restarts the agent; a downgrade
#      too; remove stops it and keeps the configuration; purge cleans up;
#   4. golden image: cloud-init and deploy/packer/provision.sh, booted twice
#      as two clones that cloud-init enrolls, with one deployment token, from
#      deploy/cloud-init/user-data-image.yaml against a `vigil backend` on the
#      host: each gets its own machine-id, host id and key, both deliver
#      heartbeats; once the token is revoked, a machine cloned from an
#      enrolled one is refused and `vigil status` says why;
#   5. the rpm's contents and scriptlets, and an install into another root.
# Needs root; PKG_VERSION names the packages in dist/ (make passes it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/lib/nspawn.sh
. scripts/lib/nspawn.sh

V1=${PKG_VERSION:?run through make test-packages}
V2=$V1.1
DEB1=$ROOT/dist/vigil_${V1}_amd64.deb
RPM1=$ROOT/dist/vigil-${V1}-1.x86_64.rpm
NEXT=$ROOT/build/pkgtest/next
WORK=$(mktemp -d /var/tmp/vigil-pkgtest.XXXXXX)
NATS_PIDS=()

cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    for name in "${!GUEST_NSPAWN[@]}"; do
      echo "--- journal of vigil-agent in $name" >&2
      guest "$name" journalctl -u vigil-agent --no-pager -n 40 >&2 || true
    done
  fi
  shutdown_all
  for p in "${NATS_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ $rc -eq 0 ] || [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# expect WANT CMD...: CMD's output (trimmed) must equal WANT.
expect() {
  local want=$1 got
  shift
  got=$("$@" 2>&1 || true)
  [ "$got" = "$want" ] || fail "$* printed '$got', want '$want'"
}

# wait_for SECONDS DESCRIPTION CMD...: retries CMD every half second.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for i in $(seq 1 $((secs * 2))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  fail "$what (waited ${secs}s)"
}

start_nats() { # CONF LOG
  "$ROOT/build/nats-server" -c "$1" > "$2" 2>&1 &
  NATS_PIDS+=($!)
}

log "packages"
[ -f "$DEB1" ] && [ -f "$RPM1" ] || fail "missing $DEB1 or $RPM1 (make package)"
go build -o build/nats-server github.com/nats-io/nats-server/v2
# A newer version for the upgrade: same code, higher version.
make -s package BIN="$NEXT/vigil" DIST="$NEXT" PKG_VERSION="$V2" VERSION="$V2" >/dev/null
DEB2=$NEXT/vigil_${V2}_amd64.deb
[ -f "$DEB2" ] || fail "missing $DEB2"
VIGIL=$ROOT/bin/vigil
BIN1=$("$VIGIL" version | awk '{print $2}') # what the agent of $V1 reports
[ "$BIN1" = "$V1" ] || fail "vigil version says $BIN1, the package is $V1"

# ------------------------------------------------------------------ rpm
log "rpm: contents, config files, scriptlets, install into another root"
files=$(rpm -qpl "$RPM1")
for f in /usr/bin/vigil /usr/lib/systemd/system/vigil-agent.service /usr/lib/systemd/system/vigil-backend.service \
  /usr/lib/systemd/system/vigil-agent.service.d/10-resources.conf /etc/vigil/agent.yaml /etc/vigil/backend.yaml \
  /etc/sysconfig/vigil /etc/vigil/rules.d /var/lib/vigil /usr/share/man/man8/vigil.8.gz /usr/share/man/man8/vigil-agent.8.gz \
  /usr/share/bash-completion/completions/vigil /usr/share/zsh/vendor-completions/_vigil; do
  grep -qx "$f" <<<"$files" || fail "rpm lacks $f"
done
! grep -q '^/etc/default/vigil$' <<<"$files" || fail "rpm ships /etc/default/vigil"
NRULES=$(ls pkg/rules/builtin/*.yaml | wc -l)
[ "$(rpm -qpl "$RPM1" | grep -c '^/usr/lib/vigil/rules.d/.*\.yaml$')" = "$NRULES" ] || fail "rpm: vendor rules missing"
conf=$(rpm -qp --configfiles "$RPM1")
for f in /etc/vigil/agent.yaml /etc/vigil/backend.yaml /etc/sysconfig/vigil; do
  grep -qx "$f" <<<"$conf" || fail "rpm: $f is not a config file"
done
rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$RPM1" | grep -q '^/etc/vigil/agent.yaml cn$' \
  || fail "rpm: agent.yaml is not %config(noreplace)"
scripts=$(rpm -qp --scripts "$RPM1")
grep -q 'posttrans scriptlet' <<<"$scripts" || fail "rpm has no posttrans"
awk '/posttrans scriptlet/,0' <<<"$scripts" | grep -q 'try-restart vigil-agent' || fail "rpm posttrans does not try-restart"
awk '/preuninstall scriptlet/,/postuninstall scriptlet/' <<<"$scripts" | grep -q 'stop vigil-agent' \
  || fail "rpm preun does not stop the agent"
rpm -qp --qf '%{LICENSE}|%{URL}|%{SUMMARY}\n' "$RPM1" | grep -qE '^Apache-2.0[^|]*\|https://[^|]+\|.+' \
  || fail "rpm licence, URL or summary empty: $(rpm -qp --qf '%{LICENSE}|%{URL}|%{SUMMARY}' "$RPM1")"
mkdir -p "$WORK/rpmroot"
rpm --root "$WORK/rpmroot" --nodeps --noscripts -i "$RPM1" 2>&1 | grep -v 'warning' || true
[ -x "$WORK/rpmroot/usr/bin/vigil" ] && [ -f "$WORK/rpmroot/etc/vigil/agent.yaml" ] || fail "rpm --root install"
rpm --root "$WORK/rpmroot" -q vigil | grep -q "^vigil-$V1-1" || fail "rpm database in the other root"
rpm --root "$WORK/rpmroot" --nodeps --noscripts -e vigil
[ ! -e "$WORK/rpmroot/usr/bin/vigil" ] || fail "rpm -e left /usr/bin/vigil"
pass "rpm $V1"

# ------------------------------------------------------------------ deb on a booted system
log "boot Debian 12 and install the deb with apt"
new_guest "$WORK/pkg"
cp "$DEB1" "$DEB2" "$WORK/pkg/root/"
boot pkg "$WORK/pkg"
guest pkg apt-get install -y -q "/root/$(basename "$DEB1")" > "$WORK/apt1.log" 2>&1 || { cat "$WORK/apt1.log"; fail "apt install"; }
expect "$V1" guest pkg dpkg-query -W -f '${Version}' vigil
expect enabled guest pkg systemctl is-enabled vigil-agent
expect inactive guest pkg systemctl is-active vigil-agent
expect disabled guest pkg systemctl is-enabled vigil-backend
for f in /usr/bin/vigil /etc/vigil/agent.yaml /etc/vigil/backend.yaml /etc/default/vigil; do
  guest pkg test -f "$f" || fail "deb: $f missing"
done
guest pkg test -d /etc/vigil/rules.d || fail "deb: /etc/vigil/rules.d missing"
[ "$(guest pkg sh -c 'ls /usr/lib/vigil/rules.d/*.yaml | wc -l')" = "$NRULES" ] || fail "deb: vendor rules missing"
for f in /usr/share/man/man8/vigil.8.gz /usr/share/man/man8/vigil-simulate.8.gz /usr/share/bash-completion/completions/vigil; do
  guest pkg test -f "$f" || fail "deb: $f missing"
done
guest pkg vigil version | grep -q "^vigil $V1 " || fail "deb: vigil version is not the package's $V1: $(guest pkg vigil version)"
# The packaged vendor rules hash like the copy in the binary.
[ "$(guest pkg vigil rules lint | sed 's/.*version //')" = "$("$VIGIL" rules lint --no-builtin pkg/rules/builtin | sed 's/.*version //')" ] \
  || fail "packaged rules version differs from the built-in one"
pass "installed $V1: enabled, inactive until configured; backend disabled; man pages, completion, version $V1"

verify=$(guest pkg systemd-analyze verify vigil-agent.service vigil-backend.service 2>&1 || echo "exit status $?")
[ -z "$verify" ] || fail "systemd-analyze verify: $verify"
security=$(guest pkg systemd-analyze security vigil-agent.service --no-pager 2>&1 | tail -n1)
pass "systemd-analyze verify clean; $security"

log "configure: enrolled NKey credential, NATS with JetStream on the host"
guest pkg sh -c 'cat >> /etc/vigil/agent.yaml' <<EOF

# written by the package test
env: pkgtest
EOF
NATS_PORT=$(free_port)
guest pkg sh -c "cat >> /etc/default/vigil" <<EOF
VIGIL_NATS_URL=nats://127.0.0.1:$NATS_PORT
VIGIL_NATS_NKEY=/etc/vigil/nats.nk
EOF
guest pkg vigil enroll --json > "$WORK/enroll.json"
HOST_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["host_id"])' "$WORK/enroll.json")
expect "-rw------- root" guest pkg stat -c '%A %U' /etc/vigil/nats.nk
python3 - "$WORK/enroll.json" "$NATS_PORT" "$WORK" > "$WORK/nats.conf" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
print(f'''listen: 127.0.0.1:{sys.argv[2]}
jetstream {{ store_dir: "{sys.argv[3]}/js" }}
authorization {{ users: [
  {{ user: admin, password: pkgtest }}
  {{ nkey: {e["nkey"]}, permissions: {{ publish: {{ allow: {json.dumps(e["publish_allow"])} }}, subscribe: {{ allow: {json.dumps(e["subscribe_allow"])} }} }} }}
] }}''')
EOF
start_nats "$WORK/nats.conf" "$WORK/nats.log"
ADMIN=nats://admin:pkgtest@127.0.0.1:$NATS_PORT
wait_for 15 "NATS on the host" "$VIGIL" tail --nats-url "$ADMIN" --create-stream --timeout 200ms
pass "host $HOST_ID enrolled; server allows it only vigil.pkgtest.*.$HOST_ID"

log "start the agent"
guest pkg systemctl start vigil-agent || fail "systemctl start vigil-agent"
expect active guest pkg systemctl is-active vigil-agent
heartbeats() { guest pkg vigil status --json | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if (s.get("transport") or {}).get("heartbeats",0)>0 else 1)'; }
wait_for 30 "vigil status: an acknowledged heartbeat" heartbeats
guest pkg vigil status
pass "active; vigil status shows the heartbeat acknowledged by the stream"

log "network policy: the agent may reach only loopback, the metadata service and its NATS"
guest pkg vigil config network-policy --write /etc/systemd/system/vigil-agent.service.d/60-network.conf \
  || fail "vigil config network-policy"
guest pkg systemctl daemon-reload
guest pkg systemctl restart vigil-agent || fail "restart with the network policy"
guest pkg systemctl show -p IPAddressDeny --value vigil-agent | grep -q '0.0.0.0/0' || fail "IPAddressDeny not applied"
wait_for 30 "heartbeats acknowledged with the network policy" heartbeats
pass "IPAddressDeny=any with IPAddressAllow for NATS: still delivering"

log "simulate a crypto miner inside the guest; the alert must reach the stream"
guest pkg vigil simulate miner
alert_arrived() {
  "$VIGIL" tail --nats-url "$ADMIN" --subject "vigil.pkgtest.alert.$HOST_ID" --timeout 1s > "$WORK/alerts.jsonl" 2>/dev/null || true
  grep -q '"rule":"Crypto miner executed"' "$WORK/alerts.jsonl"
}
wait_for 30 "alert 'Crypto miner executed' from $HOST_ID in the stream" alert_arrived
grep '"rule":"Crypto miner executed"' "$WORK/alerts.jsonl" | head -n1 | cut -c1-200
# The agent's own metadata lookup (it runs in the guest's PID namespace) is
# not an alert.
! grep -q '"rule":"Instance metadata contacted by an unexpected program"' "$WORK/alerts.jsonl" \
  || fail "the agent alerted on its own IMDS lookup"
pass "alert delivered from the guest to JetStream on the host; none about the agent itself"

log "the backend unit: starts with its defaults, READY=1, the API answers with the admin token it wrote"
BK_NATS=$(free_port); BK_API=$(free_port)
# the host's tests may hold 4222 and 8080: move both in the packaged file
guest pkg sed -i -e "s|^listen: 127.0.0.1:8080|listen: 127.0.0.1:$BK_API|" -e "s|^  listen: 127.0.0.1:4222|  listen: 127.0.0.1:$BK_NATS|" \
  /etc/vigil/backend.yaml
guest pkg grep -q "^listen: 127.0.0.1:$BK_API" /etc/vigil/backend.yaml || fail "backend.yaml has no listen line to change"
guest pkg systemctl start vigil-backend || { guest pkg journalctl -u vigil-backend --no-pager -n 40 >&2; fail "systemctl start vigil-backend"; }
expect active guest pkg systemctl is-active vigil-backend
expect "-rw------- root" guest pkg stat -c '%A %U' /var/lib/vigil/backend/admin.token
guest pkg vigil detections --api "http://127.0.0.1:$BK_API" > /dev/null || fail "vigil detections against the packaged backend"
guest pkg vigil backend token create --role viewer --api "http://127.0.0.1:$BK_API" | grep -q '^vgl_' || fail "token create"
# The UI from the package: the page with its CSP, a login with the token.
guest pkg python3 - "http://127.0.0.1:$BK_API" <<'EOF' || fail "the packaged UI"
import json, sys, urllib.request
base = sys.argv[1]
r = urllib.request.urlopen(base + "/")
assert "script-src 'self'" in r.headers["Content-Security-Policy"], r.headers
assert b"/ui/app.js" in r.read()
tok = open("/var/lib/vigil/backend/admin.token").read().strip()
req = urllib.request.Request(base + "/api/v1/session", data=json.dumps({"token": tok}).encode(), method="POST")
r = urllib.request.urlopen(req)
assert "HttpOnly" in r.headers["Set-Cookie"] and json.load(r)["role"] == "admin", r.headers
EOF
bsec=$(guest pkg systemd-analyze security vigil-backend.service --no-pager 2>&1 | tail -n1)
guest pkg systemctl stop vigil-backend || fail "systemctl stop vigil-backend"
expect inactive guest pkg systemctl is-active vigil-backend
pass "vigil-backend: active (Type=notify), admin.token 0600, API, UI login and token creation work, stops cleanly; $bsec"

main_pid() { guest pkg systemctl show -p MainPID --value vigil-agent; }
version_is() { [ "$(guest pkg vigil status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" = "$1" ]; }

log "upgrade $V1 -> $V2"
pid1=$(main_pid)
guest pkg apt-get install -y -q "/root/$(basename "$DEB2")" > "$WORK/apt2.log" 2>&1 || { cat "$WORK/apt2.log"; fail "apt upgrade"; }
expect "$V2" guest pkg dpkg-query -W -f '${Version}' vigil
guest pkg grep -q '^env: pkgtest$' /etc/vigil/agent.yaml || fail "upgrade lost the agent.yaml change"
guest pkg grep -q "^VIGIL_NATS_URL=nats://127.0.0.1:$NATS_PORT$" /etc/default/vigil || fail "upgrade lost /etc/default/vigil"
guest pkg test -f /etc/vigil/nats.nk || fail "upgrade lost the credential"
expect active guest pkg systemctl is-active vigil-agent
[ "$(main_pid)" != "$pid1" ] || fail "the agent was not restarted on upgrade (pid $pid1)"
wait_for 20 "the upgraded agent reports $V2" version_is "$V2"
expect enabled guest pkg systemctl is-enabled vigil-agent
pass "upgraded: configuration kept, agent restarted (pid $pid1 -> $(main_pid)) running $V2"

log "downgrade $V2 -> $V1"
pid2=$(main_pid)
guest pkg apt-get install -y -q --allow-downgrades "/root/$(basename "$DEB1")" > "$WORK/apt3.log" 2>&1 || { cat "$WORK/apt3.log"; fail "apt downgrade"; }
expect "$V1" guest pkg dpkg-query -W -f '${Version}' vigil
guest pkg grep -q '^env: pkgtest$' /etc/vigil/agent.yaml || fail "downgrade lost the configuration"
expect active guest pkg systemctl is-active vigil-agent
[ "$(main_pid)" != "$pid2" ] || fail "the agent was not restarted on downgrade"
wait_for 20 "the downgraded agent reports $BIN1" version_is "$BIN1"
pass "downgraded: configuration kept, agent restarted running $V1"

log "remove"
guest pkg apt-get remove -y -q vigil > "$WORK/apt4.log" 2>&1 || { cat "$WORK/apt4.log"; fail "apt remove"; }
expect inactive guest pkg systemctl is-active vigil-agent
guest pkg test ! -e /usr/bin/vigil || fail "remove left /usr/bin/vigil"
guest pkg test -f /etc/vigil/agent.yaml || fail "remove deleted the configuration"
guest pkg test -d /var/lib/vigil || fail "remove deleted the state"
pass "removed: stopped, configuration and state kept"

log "purge"
guest pkg apt-get purge -y -q vigil > "$WORK/apt5.log" 2>&1 || { cat "$WORK/apt5.log"; fail "apt purge"; }
for p in /etc/vigil /var/lib/vigil /etc/default/vigil /usr/lib/vigil /etc/systemd/system/multi-user.target.wants/vigil-agent.service; do
  guest pkg test ! -e "$p" || fail "purge left $p"
done
! guest pkg dpkg-query -W vigil >/dev/null 2>&1 || fail "dpkg still knows vigil after purge"
pass "purged: configuration, credential and state gone"
shutdown_guest pkg

# ------------------------------------------------------------------ golden image and clones
log "golden image: cloud-init, then deploy/packer/provision.sh (installed, enabled, not enrolled)"
new_guest "$WORK/golden"
cp "$DEB1" "$WORK/golden/root/"
cp deploy/packer/provision.sh "$WORK/golden/root/"
boot golden "$WORK/golden"
guest golden sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends cloud-init locales' \
  > "$WORK/cloud-init-install.log" 2>&1 || { tail -20 "$WORK/cloud-init-install.log"; fail "install cloud-init in the image"; }
guest golden env VIGIL_PACKAGE="/root/$(basename "$DEB1")" sh /root/provision.sh > "$WORK/provision.log" 2>&1 \
  || { cat "$WORK/provision.log"; fail "provision.sh"; }
guest golden cloud-init clean --logs --seed # as vigil.pkr.hcl does last
expect enabled guest golden systemctl is-enabled vigil-agent
expect inactive guest golden systemctl is-active vigil-agent
shutdown_guest golden
[ ! -s "$WORK/golden/etc/machine-id" ] || fail "the image keeps a machine-id"
[ ! -e "$WORK/golden/var/lib/vigil/host-id" ] || fail "the image keeps a host id"
[ ! -e "$WORK/golden/etc/vigil/nats.nk" ] || fail "the image keeps a credential"

log "two clones, each enrolled by cloud-init from deploy/cloud-init/user-data-image.yaml with one deployment token"
# The host's backend (embedded NATS, no anonymous access) is what the clones
# enroll with and deliver to.
CLONE_PORT=$(free_port)
CLONE_HTTP=$(free_port)
printf 'env: clones\nnats:\n  allow_anonymous: false\n' > "$WORK/clone-backend.yaml"
"$VIGIL" backend --config "$WORK/clone-backend.yaml" --data-dir "$WORK/clone-backend" --nats-listen "127.0.0.1:$CLONE_PORT" \
  --listen "127.0.0.1:$CLONE_HTTP" > "$WORK/clone-backend.log" 2>&1 &
NATS_PIDS+=($!)
API=(--api "http://127.0.0.1:$CLONE_HTTP" --token-file "$WORK/clone-backend/admin.token")
backend_up() { [ -s "$WORK/clone-backend/admin.token" ] && "$VIGIL" backend hosts list "${API[@]}"; }
wait_for 60 "the clones' backend" backend_up
TOKEN=$("$VIGIL" backend token create --kind enroll --env clones --ttl 1h --name golden-image "${API[@]}" 2>/dev/null)
case $TOKEN in vge_*) ;; *) fail "token create printed '$TOKEN'" ;; esac
for c in clone1 clone2; do
  cp -a "$WORK/golden" "$WORK/$c"
  seed=$WORK/$c/var/lib/cloud/seed/nocloud
  mkdir -p "$seed"
  printf 'instance-id: %s\nlocal-hostname: %s\n' "$c" "$c" > "$seed/meta-data"
  sed -e "s#nats://nats.example.internal:4222#nats://127.0.0.1:$CLONE_PORT#" -e 's#VIGIL_ENV=prod#VIGIL_ENV=clones#' \
    -e "s#vge_REPLACE_WITH_THE_DEPLOYMENT_TOKEN#$TOKEN#" deploy/cloud-init/user-data-image.yaml > "$seed/user-data"
  grep -q "$TOKEN" "$seed/user-data" || fail "user-data template: the token placeholder moved"
done
boot clone1 "$WORK/clone1"
boot clone2 "$WORK/clone2"
agent_active() { [ "$(guest "$1" systemctl is-active vigil-agent)" = active ]; }
enrolled() { # GUEST: its agent enrolled and delivers (acknowledged heartbeats)
  guest "$1" vigil status --json | python3 -c 'import json,sys; t=json.load(sys.stdin).get("transport") or {}
sys.exit(0 if (t.get("enrollment") or {}).get("state")=="enrolled" and t.get("heartbeats",0)>0 else 1)'
}
for c in clone1 clone2; do
  guest "$c" cloud-init status --wait > /dev/null 2>&1 || true
  guest "$c" grep -q '^VIGIL_ENV=clones$' /etc/default/vigil || fail "$c: cloud-init did not write /etc/default/vigil"
  expect "600" guest "$c" stat -c %a /etc/default/vigil
  wait_for 20 "$c: agent active" agent_active "$c"
  wait_for 40 "$c: enrolled with the token and delivering" enrolled "$c"
  expect "600" guest "$c" stat -c %a /var/lib/vigil/nats.nk
done
m1=$(guest clone1 cat /etc/machine-id)
m2=$(guest clone2 cat /etc/machine-id)
[ -n "$m1" ] && [ "$m1" != "$m2" ] || fail "clones share machine-id '$m1'"
host_count() { "$VIGIL" backend hosts list --json "${API[@]}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["hosts"]))'; }
expect 2 host_count
two_sensors() { [ "$("$VIGIL" sensors --json "${API[@]}" | python3 -c 'import json,sys; print(len([s for s in json.load(sys.stdin)["sensors"] if s["env"]=="clones"]))')" = 2 ]; }
wait_for 30 "heartbeats from two enrolled hosts at the backend" two_sensors
ids=$("$VIGIL" backend hosts list --json "${API[@]}" | python3 -c 'import json,sys; print(" ".join(sorted(h["host_id"] for h in json.load(sys.stdin)["hosts"])))')
pass "two clones enrolled by cloud-init with one deployment token: machine-ids $m1 and $m2, host ids $ids"

log "the token revoked: a machine cloned from an enrolled one is refused, and says why"
"$VIGIL" backend token revoke "$("$VIGIL" backend token list --json "${API[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"][0]["id"])')" "${API[@]}" > /dev/null
# clone2 becomes a copy of an enrolled machine: a new machine-id with the
# old host id, key and enrollment in /var/lib/vigil.
guest clone2 systemctl stop vigil-agent
guest clone2 sh -c 'systemd-id128 new > /etc/machine-id'
guest clone2 systemctl start vigil-agent
refused() {
  guest clone2 vigil status --json | python3 -c 'import json,sys; t=json.load(sys.stdin).get("transport") or {}
sys.exit(0 if (t.get("enrollment") or {}).get("state")=="refused" and "was revoked" in t.get("last_error","") else 1)'
}
wait_for 40 "clone2: enrollment refused with the revoked token" refused
guest clone2 vigil status | grep -q 'revoked' || fail "clone2: vigil status does not say the token was revoked"
expect 2 host_count
enrolled clone1 || fail "clone1 stopped delivering after the token was revoked"
pass "a revoked token enrolls nothing new ($(guest clone2 vigil status | grep -m1 -o 'deployment token [^ ]* was revoked')); enrolled hosts keep delivering"
shutdown_all

# ------------------------------------------------------------------ Packer template
if command -v packer >/dev/null; then
  log "Packer template syntax"
  # Debian's packer (1.6) predates the required_plugins block: check the rest.
  mkdir -p "$WORK/packer"
  sed '/^packer {/,/^}/d' deploy/packer/vigil.pkr.hcl > "$WORK/packer/vigil.pkr.hcl"
  (cd "$WORK/packer" && packer validate -syntax-only vigil.pkr.hcl) || fail "packer validate -syntax-only"
  pass "vigil.pkr.hcl: syntax valid"
fi

log "all package tests passed"
