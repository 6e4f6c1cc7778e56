#!/bin/sh
# deb: $1 = remove | upgrade; rpm: $1 = 0 on erase, 1 on upgrade.
set -e
command -v systemctl >/dev/null 2>&1 || exit 0
[ -d /run/systemd/system ] || exit 0
case "$1" in
  remove|0)
    systemctl stop vigil-agent.service vigil-backend.service >/dev/null 2>&1 || true
    systemctl disable vigil-agent.service vigil-backend.service >/dev/null 2>&1 || true
    ;;
esac
exit 0
