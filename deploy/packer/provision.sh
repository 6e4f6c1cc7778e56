#!/bin/sh
# Bakes Vigil into a golden image: installed and enabled, not enrolled, and
# sealed so that every machine started from the image gets its own identity.
# Used by vigil.pkr.hcl and by scripts/test-packages.sh (which boots two
# clones of an image baked with it and checks their host ids differ).
#
#   VIGIL_PACKAGE  a .deb/.rpm path, or empty to install "vigil" from the
#                  configured repository
#   VIGIL_VERSION  with the repository: pin this version (optional)
#   VIGIL_ENROLL_TOKEN, VIGIL_NATS_URL, VIGIL_ENV  optional: bake the
#                  environment's deployment token into the image, so every
#                  instance enrolls itself on first boot with no user-data
#                  (each still generates its own key); else cloud-init
#                  writes them (deploy/cloud-init/user-data-image.yaml)
set -eu

if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  if [ -n "${VIGIL_PACKAGE:-}" ]; then
    apt-get install -y -q "$VIGIL_PACKAGE"
  else
    apt-get install -y -q "vigil${VIGIL_VERSION:+=$VIGIL_VERSION}"
  fi
else
  if [ -n "${VIGIL_PACKAGE:-}" ]; then
    dnf install -y "$VIGIL_PACKAGE"
  else
    dnf install -y "vigil${VIGIL_VERSION:+-$VIGIL_VERSION}"
  fi
fi

# Enabled for boot; it starts with the instance and picks up the NATS URL
# and enrollment that cloud-init writes from user-data.
systemctl enable vigil-agent.service
vigil --version

if [ -n "${VIGIL_ENROLL_TOKEN:-}" ]; then
  umask 077
  printf 'VIGIL_NATS_URL=%s\nVIGIL_ENV=%s\nVIGIL_ENROLL_TOKEN=%s\n' "${VIGIL_NATS_URL:?VIGIL_NATS_URL goes with the token}" \
    "${VIGIL_ENV:-prod}" "$VIGIL_ENROLL_TOKEN" > /etc/default/vigil
  chmod 600 /etc/default/vigil
fi

# Seal: no running agent, no host id, no credential, no machine-id. systemd
# generates a fresh machine-id on first boot, from which the agent derives a
# new host id (and a stored id from another machine is replaced anyway).
systemctl stop vigil-agent.service 2>/dev/null || true
rm -f /var/lib/vigil/host-id /etc/vigil/nats.nk /etc/vigil/nats.creds \
  /var/lib/vigil/nats.nk /var/lib/vigil/enrollment.json /var/lib/vigil/rules-bundle.json
rm -rf /var/lib/vigil/spool
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
echo "vigil baked: enabled, not enrolled, machine-id cleared"
