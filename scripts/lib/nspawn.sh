# shellcheck shell=bash
# Booted Debian 12 guests for the real-system tests: a cached root file system
# (mmdebstrap), copied per guest and booted with systemd-nspawn. Sourced by
# scripts/test-packages.sh and scripts/test-ansible.sh.
#
# Guests share the host's network (so they reach servers on the host's
# loopback) and keep every capability plus the bpf and perf_event_open system
# calls, so the agent attaches its probes for real. Commands run inside a
# guest through nsenter into its init.

CACHE=${VIGIL_TEST_CACHE:-/var/cache/vigil-test}
# The recipe: change it and the cache is rebuilt.
ROOTFS_PACKAGES=systemd,systemd-sysv,dbus,ca-certificates,iproute2,procps,openssh-server,python3,sudo
ROOTFS_RECIPE="bookworm minbase $ROOTFS_PACKAGES v2"

log() { printf '\n== %s %s\n' "$(date +%H:%M:%S)" "$*"; }

# rootfs prints the cached root file system, building it when missing.
rootfs() {
  local mirror
  if [ "$(cat "$CACHE/rootfs.done" 2>/dev/null)" = "$ROOTFS_RECIPE" ]; then
    echo "$CACHE/rootfs"
    return
  fi
  mirror=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
    | grep -v security | head -n1 | tr -d ' ')
  mirror=${mirror:-http://deb.debian.org/debian}
  mkdir -p "$CACHE"
  rm -rf "$CACHE/rootfs" "$CACHE/rootfs.tmp" "$CACHE/rootfs.done"
  echo "building the Debian 12 root file system in $CACHE (mmdebstrap, $mirror)" >&2
  mmdebstrap --quiet --variant=minbase --include="$ROOTFS_PACKAGES" bookworm "$CACHE/rootfs.tmp" "$mirror" >&2
  # Every guest gets its own machine-id at boot and its machine name as
  # hostname.
  : > "$CACHE/rootfs.tmp/etc/machine-id"
  rm -f "$CACHE/rootfs.tmp/etc/hostname" "$CACHE/rootfs.tmp/var/lib/dbus/machine-id"
  mv "$CACHE/rootfs.tmp" "$CACHE/rootfs"
  echo "$ROOTFS_RECIPE" > "$CACHE/rootfs.done"
  echo "$CACHE/rootfs"
}

# new_guest DIR: a fresh copy of the cached root file system.
new_guest() {
  rm -rf "$1"
  cp -a "$(rootfs)" "$1"
}

declare -A GUEST_NSPAWN GUEST_LEADER GUEST_DIR

# boot NAME DIR: boots the guest and waits until systemd has finished
# starting up.
boot() {
  local name=$1 dir=$2 pid leader="" i state
  GUEST_DIR[$name]=$dir
  SYSTEMD_SECCOMP=0 systemd-nspawn --quiet -D "$dir" -b -M "$name" --register=no --keep-unit \
    --capability=all --system-call-filter="bpf perf_event_open" \
    > "$WORK/$name.console" 2>&1 < /dev/null &
  pid=$!
  GUEST_NSPAWN[$name]=$pid
  # The guest's init is nspawn's child named systemd (nspawn forks helpers
  # that come and go first).
  for i in $(seq 1 200); do
    for c in $(pgrep -P "$pid" || true); do
      [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && leader=$c
    done
    [ -n "$leader" ] && break
    sleep 0.1
  done
  [ -n "$leader" ] || { cat "$WORK/$name.console"; echo "guest $name did not start" >&2; return 1; }
  GUEST_LEADER[$name]=$leader
  for i in $(seq 1 120); do
    state=$(guest "$name" systemctl is-system-running 2>/dev/null || true)
    case "$state" in
      running|degraded) return 0 ;;
    esac
    sleep 0.5
  done
  echo "guest $name: system state '$state' after 60 s" >&2
  guest "$name" systemctl --failed --no-pager >&2 || true
  return 1
}

# guest NAME CMD...: runs CMD inside the booted guest with a clean environment.
guest() {
  local name=$1
  shift
  nsenter -t "${GUEST_LEADER[$name]}" -a -- \
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}

# shutdown_guest NAME: powers the guest off, killing it after 30 s.
shutdown_guest() {
  local name=$1 pid=${GUEST_NSPAWN[$1]:-} i
  [ -n "$pid" ] || return 0
  guest "$name" systemctl poweroff >/dev/null 2>&1 || true
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "GUEST_NSPAWN[$name]"
}

shutdown_all() {
  local name
  for name in "${!GUEST_NSPAWN[@]}"; do
    shutdown_guest "$name"
  done
}

# free_port prints a TCP port nothing listens on.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# nkey_user NAME ALLOW: writes an NKey seed to $WORK/NAME.nk (`vigil enroll`)
# and prints the nats-server user entry allowing it to publish ALLOW.
nkey_user() {
  local nkey
  "$VIGIL" enroll --config /dev/null --host-id "$1" --seed "$WORK/$1.nk" --json > "$WORK/$1.enroll.json"
  nkey=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nkey"])' "$WORK/$1.enroll.json")
  printf '  { nkey: %s, permissions: { publish: { allow: ["%s"] }, subscribe: { allow: ["_INBOX.>"] } } }\n' "$nkey" "$2"
}

# senders URL SUBJECT: how many distinct subjects (hosts) have messages on
# SUBJECT; the messages are left in $WORK/tail.jsonl.
senders() {
  "$VIGIL" tail --nats-url "$1" --subject "$2" --timeout 1s > "$WORK/tail.jsonl" 2>/dev/null || true
  python3 -c 'import json,sys; print(len({json.loads(l)["subject"] for l in open(sys.argv[1])}))' "$WORK/tail.jsonl"
}
