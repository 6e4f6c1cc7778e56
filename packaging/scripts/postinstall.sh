#!/bin/sh
# deb: $1 = configure, $2 = the previous version (empty on first install).
# rpm: $1 = 1 on install, 2 on upgrade (the restart happens in posttrans).
set -e
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
