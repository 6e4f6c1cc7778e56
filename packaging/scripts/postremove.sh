#!/bin/sh
# deb: $1 = remove | purge | upgrade ...; rpm: $1 = 0 on erase.
set -e
case "$1" in
  purge)
    rm -rf /var/lib/vigil /etc/vigil/rules.d
    ;;
esac
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
exit 0
