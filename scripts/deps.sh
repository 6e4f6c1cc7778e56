#!/usr/bin/env bash
# Installs the build and test toolchain on Debian 12 (bookworm). Idempotent.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "deps.sh: run as root (sudo make deps, or su -c 'make deps' where sudo is not installed)" >&2
  exit 1
fi
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive

# The Debian mirror already configured on this machine is reused for backports.
mirror=$(grep -hoE '^(URIs:|deb) *(\[[^]]*\] *)?https?://[^ ]+/debian/?( |$)' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
  | grep -oE 'https?://[^ ]+' | grep -v security | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

bp=/etc/apt/sources.list.d/vigil-backports.list
want="deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} bookworm-backports main"
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "$want" > "$bp"
  apt-get update -qq
elif [ ! -f /var/lib/vigil-deps.stamp ]; then
  apt-get update -qq
fi

# libbpf 1.4.6 comes from bookworm-backports; elfutils stays at bookworm's
# 0.188: the backported libelf.a (0.192) references eu_search_tree_* from an
# archive Debian does not ship, which breaks the static link.
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
if ! ver libbpf-dev | grep -q '^1:1\.4' || ! ver libelf-dev | grep -q '^0\.188'; then
  elf=(libelf1/bookworm libelf-dev/bookworm)
  for p in libdw1 libdebuginfod1 libdebuginfod-common; do
    if ver "$p" | grep -q 'bpo'; then elf+=("$p/bookworm"); fi
  done
  apt-get install -y -qq --allow-downgrades libbpf-dev/bookworm-backports libbpf1/bookworm-backports "${elf[@]}"
fi

pkgs=(clang llvm bpftool libelf-dev zlib1g-dev libzstd-dev make file gcc git
      iproute2 procps python3 util-linux systemd-container mmdebstrap bc rpm
      ansible-core ansible-lint openssh-client packer nats-server chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y -qq "${missing[@]}"
  # Debian's nats-server package starts its own service on 127.0.0.1:4222,
  # where `vigil run` listens; the tests only need the binary. Disabled
  # when this script installed it (a server someone set up stays).
  if printf '%s\n' "${missing[@]}" | grep -qx nats-server && [ -d /run/systemd/system ]; then
    systemctl disable --now nats-server.service >/dev/null 2>&1 || true
  fi
fi
# Go: the version go.mod names. A machine without it gets Debian's Go from
# bookworm-backports, whose go command fetches that version through the Go
# module proxy (GOTOOLCHAIN); /usr/local/bin/go runs it.
want=$(awk '$1 == "go" {print $2; exit}' go.mod)
have=$(go env GOVERSION 2>/dev/null | sed 's/^go//' || true)
if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]; then
  if [ -x /usr/local/go/bin/go ] && [ "$(/usr/local/go/bin/go env GOVERSION)" = "go$want" ]; then
    ln -sf /usr/local/go/bin/go /usr/local/bin/go
  else
    apt-get install -y -qq golang-1.23-go/bookworm-backports
    cat > /usr/local/bin/go <<EOW
#!/bin/sh
# Installed by Vigil's scripts/deps.sh: Debian's go command running go$want.
exec env GOTOOLCHAIN=go$want /usr/lib/go-1.23/bin/go "\$@"
EOW
    chmod 0755 /usr/local/bin/go
  fi
  hash -r
  if ! v=$(/usr/local/bin/go version); then
    echo "deps.sh: Debian's go could not fetch go$want through the Go module proxy (GOPROXY, the network, its CA certificates): install Go $want in /usr/local/go by hand, or fix the access, and run make again" >&2
    exit 1
  fi
  echo "deps: $v"
fi
touch /var/lib/vigil-deps.stamp
echo "deps: libbpf-dev $(dpkg-query -W -f='${Version}' libbpf-dev), $(clang --version | head -n1)"
