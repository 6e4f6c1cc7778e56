#!/bin/sh
# deb: $1 = configure, $2 = the previous version (empty on first install).
# rpm: $1 = 1 on install, 2 on upgrade (the restart happens in posttrans).
set -e
# Kernels before 5.8 know no CAP_BPF: loading BPF there needs CAP_SYS_ADMIN,
# which the unit does not grant by default.
legacy=/etc/systemd/system/vigil-agent.service.d/50-legacy-kernel.conf
last=$(cat /proc/sys/kernel/cap_last_cap 2>/dev/null || echo 40)
if [ "$last" -lt 39 ]; then
  mkdir -p "$(dirname "$legacy")"
  printf '%s\n' "# Written by the vigil package: this kernel has no CAP_BPF (cap_last_cap $last)." \
    "[Service]" "CapabilityBoundingSet=CAP_SYS_ADMIN" > "$legacy"
fi
command -v systemctl >/dev/null 2>&1 || exit 0
[ -d /run/systemd/system ] || exit 0
systemctl daemon-reload || true
case "$1" in
  configure)
    if [ -z "$2" ]; then
      # First install: enabled for boot, not started; configure, then start.
      systemctl enable vigil-agent.service >/dev/null 2>&1 || true
    else
      systemctl try-restart vigil-agent.service || true
    fi
    ;;
  1)
    systemctl enable vigil-agent.service >/dev/null 2>&1 || true
    ;;
esac
exit 0
