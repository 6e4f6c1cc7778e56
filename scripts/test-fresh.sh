#!/usr/bin/env bash
# The README's first five minutes on a fresh Debian 12 (make test-fresh): a
# minimal Debian booted with systemd in systemd-nspawn gets a clone of this
# repository's HEAD, installs make (the README's one manual step), and runs
# `sudo make run`, which installs everything else, builds and starts the
# all-in-one. Then, as the README says: `vigil simulate --all` in a second
# terminal raises every scenario's alerts; `vigil threats` lists the threat;
# the UI on http://127.0.0.1:8080/ answers (its page, its CSP, the threat
# through the API with the admin token); Ctrl-C stops it.
#
# Not part of `make test`: it downloads the toolchain (Debian packages, Go
# and the modules) into an empty system, about 10 minutes. The guest shares
# this machine's network, so ports 8080 and 4222 on loopback must be free.
# Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/lib/nspawn.sh
. scripts/lib/nspawn.sh

WORK=$(mktemp -d /var/tmp/vigil-fresh.XXXXXX)
G=vigil-fresh
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "--- make run's terminal (stderr, last 40 lines)" >&2
    tail -n 40 "$WORK/guest/root/run.err" >&2 2>/dev/null || true
  fi
  shutdown_all
  if [ $rc -eq 0 ] || [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

for port in 8080 4222; do
  if ss -Hltn "sport = :$port" | grep -q .; then
    fail "port $port is in use on this machine: the guest's vigil run listens there (it shares the network)"
  fi
done
[ -z "$(git status --porcelain --untracked-files=no)" ] || echo "note: uncommitted changes are not tested (the guest gets a clone of HEAD)" >&2

log "a fresh Debian 12 with a clone of $(git rev-parse --short HEAD)"
new_guest "$WORK/guest"
git clone -q --no-hardlinks "$ROOT" "$WORK/guest/root/vigil"
# The certificate authorities this machine's network needs (a TLS-inspecting
# egress proxy, where there is one) are this machine's, not the product's:
# the guest trusts them too, as a machine on that network would.
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$WORK/guest/usr/local/share/ca-certificates/"
  chroot "$WORK/guest" update-ca-certificates > /dev/null
fi
start=$(date +%s)
boot "$G" "$WORK/guest"

log "apt-get install make, then sudo make run (installs, builds, starts)"
guest "$G" apt-get update -qq
guest "$G" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null
# The first terminal: make run, in the background, its output kept.
guest "$G" bash -c 'cd /root/vigil && setsid sudo make run > /root/run.out 2> /root/run.err < /dev/null &'
for _ in $(seq 1 1800); do
  grep -q "Vigil is running" "$WORK/guest/root/run.err" 2>/dev/null && break
  guest "$G" pgrep -f 'make run|bin/vigil run' > /dev/null || fail "make run ended before the banner"
  sleep 1
done
grep -q "Vigil is running" "$WORK/guest/root/run.err" || fail "no banner within 30 minutes"
pass "sudo make run up $(($(date +%s) - start)) s after boot"
sed -n '/Vigil is running/,/Ctrl-C/p' "$WORK/guest/root/run.err"

log "the second terminal: the README's commands"
guest "$G" bash -c 'cd /root/vigil && sudo ./bin/vigil simulate --all' > "$WORK/simulate.out" 2>&1 || { cat "$WORK/simulate.out"; fail "vigil simulate --all"; }
tail -n 1 "$WORK/simulate.out"
grep -Eq '^[0-9]+ passed, 0 failed' "$WORK/simulate.out" || fail "a scenario failed: $(grep FAIL "$WORK/simulate.out")"
pass "vigil simulate --all"
token=$WORK/guest/var/lib/vigil/backend/admin.token
threats=0
for _ in $(seq 1 60); do
  guest "$G" bash -c 'cd /root/vigil && sudo ./bin/vigil threats' > "$WORK/threats.out" 2>&1 || true
  threats=$(grep -c '^thr-' "$WORK/threats.out" || true)
  [ "$threats" -gt 0 ] && break
  sleep 1
done
cat "$WORK/threats.out"
[ "$threats" -gt 0 ] || fail "vigil threats lists nothing"
id=$(awk '/^thr-/ {print $1; exit}' "$WORK/threats.out")
guest "$G" bash -c "cd /root/vigil && sudo ./bin/vigil threats show $id" | grep -q "Reverse shell" || fail "threats show $id: no reverse shell in its timeline"
pass "vigil threats: $threats threat(s), $id with the reverse shell"
grep -q "Reverse shell" "$WORK/guest/root/run.out" || fail "the alerts were not printed on make run's terminal"
pass "the alerts print on make run's terminal ($(wc -l < "$WORK/guest/root/run.out") lines)"

log "the UI from this machine's browser side (shared loopback)"
headers=$(curl -sS -D - -o "$WORK/index.html" http://127.0.0.1:8080/)
grep -qi "^content-security-policy: default-src 'none'" <<<"$headers" || fail "the UI page has no strict CSP: $headers"
grep -q 'app.js' "$WORK/index.html" || fail "the UI page does not load its script"
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/api/v1/threats)" = 401 ] || fail "the API answers without a token"
curl -sS -H "Authorization: Bearer $(cat "$token")" "http://127.0.0.1:8080/api/v1/threats/$id" | grep -q '"Reverse shell"' ||
  fail "the API with the admin token does not show $id"
pass "the UI page (CSP), the API refusing without a token and showing $id with it"

log "Ctrl-C"
guest "$G" pkill -INT -f "bin/vigil run" || fail "no vigil run process"
for _ in $(seq 1 80); do
  guest "$G" pgrep -f "bin/vigil run" > /dev/null || break
  sleep 0.5
done
guest "$G" pgrep -f "bin/vigil run" > /dev/null && fail "vigil run still runs 40 s after SIGINT"
pass "stopped on SIGINT"
log "fresh machine: ok ($(($(date +%s) - start)) s)"
