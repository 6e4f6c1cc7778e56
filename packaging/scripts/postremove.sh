#!/bin/sh
# deb: $1 = remove | purge | upgrade ...; rpm: $1 = 0 on erase.
set -e
case "$1" in
  purge)
    # State, admin rules and the enrollment credential; dpkg has already
    # removed the conffiles.
    rm -rf /var/lib/vigil /etc/vigil/rules.d
    rm -f /etc/vigil/nats.nk /etc/vigil/nats.creds
    rm -f /etc/systemd/system/vigil-agent.service.d/50-legacy-kernel.conf \
      /etc/systemd/system/vigil-agent.service.d/60-network.conf
    rmdir /etc/systemd/system/vigil-agent.service.d 2>/dev/null || true
    rmdir /etc/vigil 2>/dev/null || true
    ;;
esac
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
exit 0
