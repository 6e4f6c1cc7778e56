#!/usr/bin/env bash
# Benign workload test (privileged; `make test` runs it): ordinary admin and
# developer work under a running agent with the vendor rules must raise no
# alert of medium severity or higher.
#
# It runs outside `go test` on purpose: under go test every process descends
# from the go tool, which the rules' build-tool exceptions excuse.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/agent.sh
. scripts/lib/agent.sh
[ "$(id -u)" -eq 0 ] || { echo "benign.sh: needs root" >&2; exit 1; }

# A project directory, as developers and admins use; not a temporary one.
work=$(mktemp -d /root/vigil-benign.XXXXXX)
chmod 755 "$work"
alerts="$work/alerts.json"
agent_pid=
sshd_pid=
cleanup() {
  [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  rm -f /usr/sbin/policy-rc.d.vigil-benign
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "benign: a step failed (line $LINENO): $BASH_COMMAND" >&2' ERR

# Set-up, before the agent starts (the harness writing a policy-rc.d into
# /usr/sbin is itself what a rule reports): sshd for the login step,
# installed without starting the distribution's service.
export DEBIAN_FRONTEND=noninteractive
if ! command -v sshd > /dev/null && [ ! -x /usr/sbin/sshd ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.vigil-benign
  chmod +x /usr/sbin/policy-rc.d.vigil-benign
  [ -e /usr/sbin/policy-rc.d ] || ln -s policy-rc.d.vigil-benign /usr/sbin/policy-rc.d
  apt-get install -y -qq openssh-server openssh-client > /dev/null || true
  [ -L /usr/sbin/policy-rc.d ] && rm -f /usr/sbin/policy-rc.d
  rm -f /usr/sbin/policy-rc.d.vigil-benign
fi
# logrotate for the log rotation step.
command -v logrotate > /dev/null || apt-get install -y -qq logrotate > /dev/null || true

# This script runs under `make test`: without this override every process
# here would descend from make, which the build-tool exceptions excuse. The
# real build steps below (go, gcc) keep their exceptions.
mkdir -p "$work/rules.d"
cat > "$work/rules.d/50-benign.yaml" <<'YAML'
- list: build_tools
  override: {items: replace}
  items: [go, gcc, cc, c++, g++, ld, ld.bfd, collect2, cc1, as, git]
YAML
start_agent "$work" "$alerts"

step() { echo "benign: $*"; }
export DEBIAN_FRONTEND=noninteractive

step "apt-get install and remove of a package"
apt-get install -y -qq hello > /dev/null
hello > /dev/null
apt-get remove -y -qq hello > /dev/null

step "go build of a project"
mkdir -p "$work/goproj" && cd "$work/goproj"
cat > main.go <<'GO'
package main

import ("crypto/sha256"; "fmt"; "os")

func main() { fmt.Printf("%x\n", sha256.Sum256([]byte(os.Args[0]))) }
GO
go mod init example.com/benign > /dev/null 2>&1
go build -o app . && ./app > /dev/null
cd - > /dev/null

step "git clone and commit of a local repository"
git -c init.defaultBranch=main init -q "$work/origin"
git -C "$work/origin" -c user.name=dev -c user.email=dev@example.com commit -q --allow-empty -m init
git clone -q "$work/origin" "$work/clone"
echo change > "$work/clone/file.txt"
git -C "$work/clone" add file.txt
git -C "$work/clone" -c user.name=dev -c user.email=dev@example.com commit -q -m change

step "a cron-like job: rotate and prune logs in a scratch directory"
mkdir -p "$work/logs"
for i in 1 2 3; do date > "$work/logs/app.log.$i"; done
/bin/sh -c "cd '$work/logs' && gzip -f app.log.1 && find . -name 'app.log.*' -mmin +60 -delete && ls > /dev/null"

step "compile and run a C program"
mkdir -p "$work/c" && printf '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n' > "$work/c/hello.c"
gcc -O2 -o "$work/c/hello" "$work/c/hello.c" && "$work/c/hello" > /dev/null

step "programs compiled in /var/tmp and /tmp, then run from the shell (their writer is the linker)"
tmpc=$(mktemp -d /var/tmp/vigil-benign.XXXXXX)
printf 'int main(void){return 0;}\n' > "$tmpc/t.c"
gcc -o "$tmpc/a.out" "$tmpc/t.c" && /bin/sh -c "cd '$tmpc' && ./a.out"
tmpg=$(mktemp -d /tmp/vigil-benign.XXXXXX)
(cd "$tmpg" && printf 'package main\nfunc main() {}\n' > main.go && go mod init example.com/tmp > /dev/null 2>&1 &&
  go build -o hello . && /bin/sh -c ./hello)
rm -rf "$tmpc" "$tmpg"

step "go test of a package (the test binary built into the build cache and run from there)"
cat > "$work/goproj/main_test.go" <<'GO'
package main

import "testing"

func TestSum(t *testing.T) {
	if len("benign") != 6 {
		t.Fatal("arithmetic")
	}
}
GO
(cd "$work/goproj" && go test ./... > /dev/null && go vet ./... )

step "make check of a project (configure, build, run its test programs and test scripts)"
mkdir -p "$work/proj/tests" && cd "$work/proj"
cat > configure <<'SH'
#!/bin/sh
# A configure script's probes: compile and run small programs.
set -e
printf 'int main(void){return 0;}\n' > conftest.c
cc -o conftest conftest.c && ./conftest && rm -f conftest conftest.c
uname -s > config.os; id -u > /dev/null; hostname > /dev/null
echo "CC=cc" > config.mk
SH
cat > Makefile <<'MK'
include config.mk
all: calc
calc: calc.c
	$(CC) -O2 -o $@ $<
check: all tests/run
	./tests/run ./calc
	./tests/unit && echo unit ok
tests/unit: tests/unit.c
	$(CC) -o $@ $<
tests/run: tests/unit
.PHONY: check all
MK
printf '#include <stdio.h>\n#include <stdlib.h>\nint main(int c,char**v){printf("%%d\\n",c>1?atoi(v[1])*2:0);return 0;}\n' > calc.c
printf 'int main(void){return 0;}\n' > tests/unit.c
printf '#!/bin/sh\nset -e\n[ "$($1 21)" = 42 ]\necho check ok\n' > tests/run
chmod +x configure tests/run
./configure > /dev/null && make -s check > /dev/null
cd - > /dev/null

step "git hooks (a pre-commit hook runs on commit)"
printf '#!/bin/sh\ngit diff --cached --name-only | grep -q . && exit 0\nexit 1\n' > "$work/clone/.git/hooks/pre-commit"
chmod +x "$work/clone/.git/hooks/pre-commit"
echo again >> "$work/clone/file.txt"
git -C "$work/clone" add file.txt
git -C "$work/clone" -c user.name=dev -c user.email=dev@example.com commit -q -m again

step "apt-get upgrade (simulated) and the reinstall of a package (dpkg unpacking old file times)"
apt-get -s -qq upgrade > /dev/null
apt-get install -y -qq hello > /dev/null
apt-get install -y -qq --reinstall hello > /dev/null
apt-get remove -y -qq hello > /dev/null

step "pip install of a wheel into a virtual environment"
python3 -m venv "$work/venv"
python3 - "$work" <<'PY'
import base64, hashlib, sys, zipfile
work = sys.argv[1]
files = {
    "benign_pkg/__init__.py": b"def double(x):\n    return 2 * x\n",
    "benign_pkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: benign-pkg\nVersion: 1.0\n",
    "benign_pkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: vigil-benign\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for name, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
record.append("benign_pkg-1.0.dist-info/RECORD,,")
with zipfile.ZipFile(work + "/benign_pkg-1.0-py3-none-any.whl", "w") as z:
    for name, data in files.items():
        z.writestr(name, data)
    z.writestr("benign_pkg-1.0.dist-info/RECORD", "\n".join(record) + "\n")
PY
"$work/venv/bin/pip" install -q --no-index --disable-pip-version-check "$work/benign_pkg-1.0-py3-none-any.whl"
"$work/venv/bin/python" -c 'import benign_pkg; assert benign_pkg.double(2) == 4'

step "npm ci of a project without dependencies"
if command -v npm > /dev/null; then
  mkdir -p "$work/node" && cd "$work/node"
  printf '{"name":"benign","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"benign","version":"1.0.0"}}}\n' > package-lock.json
  printf '{"name":"benign","version":"1.0.0","scripts":{"test":"node -e \\"process.exit(0)\\""}}\n' > package.json
  npm ci --offline --no-audit --no-fund > /dev/null 2>&1 && npm test --silent > /dev/null
  cd - > /dev/null
else
  echo "benign: npm not installed, npm ci skipped"
fi

step "a container-less build: unshare into new mount, pid and uts namespaces, tmpfs, hostname, chroot-free build"
mkdir -p "$work/rootfs"
unshare --mount --uts --ipc --pid --fork --mount-proc /bin/sh -c "
  hostname vigil-build
  mount -t tmpfs -o size=16m tmpfs '$work/rootfs'
  mkdir -p '$work/rootfs/out' && cp /bin/true '$work/rootfs/out/app' && '$work/rootfs/out/app'
  ps -e > /dev/null
"

step "cron jobs run by run-parts, and logrotate rotating, compressing and pruning logs"
mkdir -p "$work/cron.daily" "$work/lr"
printf '#!/bin/sh\nfind %s -name "*.old" -mtime +7 -delete\ndf -h > /dev/null\n' "$work/logs" > "$work/cron.daily/cleanup"
printf '#!/bin/sh\ndu -sh %s > /dev/null\n' "$work" > "$work/cron.daily/usage"
chmod +x "$work/cron.daily/"*
run-parts --report "$work/cron.daily"
if command -v logrotate > /dev/null; then
  date > "$work/lr/app.log"
  printf '%s/lr/app.log {\n  rotate 3\n  compress\n  missingok\n  copytruncate\n}\n' "$work" > "$work/lr/logrotate.conf"
  for _ in 1 2; do logrotate -f -s "$work/lr/state" "$work/lr/logrotate.conf"; date >> "$work/lr/app.log"; done
else
  echo "benign: logrotate not installed, skipped"
fi

step "pipelines of ordinary tools"
ps -eo pid,comm | grep -c . > /dev/null
git -C "$work/clone" log --oneline | wc -l > /dev/null
printf 'echo hi\n' | bash -c 'cat > /dev/null'
sha256sum /etc/hostname | cut -d' ' -f1 > /dev/null

step "python and perl scripts doing ordinary work"
python3 - <<'PY'
import json, hashlib, os, tempfile
d = {"files": sorted(os.listdir("/etc"))[:20]}
with tempfile.NamedTemporaryFile("w", delete=True) as f:
    json.dump(d, f)
print(hashlib.sha256(json.dumps(d).encode()).hexdigest()[:8])
PY
perl -e 'my %h = map { $_ => length } qw(alpha beta gamma); print join(",", sort keys %h), "\n"' > /dev/null

step "service restarts (a loopback HTTP server started, stopped and started again)"
for _ in 1 2; do
  python3 -m http.server --bind 127.0.0.1 0 > /dev/null 2>&1 &
  srv=$!; sleep 0.5; kill "$srv"; wait "$srv" 2>/dev/null || true
done

step "ssh login to localhost"
if [ -x /usr/sbin/sshd ] && command -v ssh > /dev/null; then
  mkdir -p /run/sshd "$work/ssh"
  ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/host"
  ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/user"
  cat > "$work/ssh/sshd_config" <<CFG
Port 2299
ListenAddress 127.0.0.1
HostKey $work/ssh/host
AuthorizedKeysFile $work/ssh/user.pub
PermitRootLogin prohibit-password
UsePAM yes
PidFile $work/ssh/sshd.pid
StrictModes no
CFG
  /usr/sbin/sshd -D -f "$work/ssh/sshd_config" &
  sshd_pid=$!
  sleep 1
  ssh -q -i "$work/ssh/user" -p 2299 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o BatchMode=yes root@127.0.0.1 'id > /dev/null; uname -r > /dev/null'
  kill "$sshd_pid"; wait "$sshd_pid" 2>/dev/null || true; sshd_pid=
else
  echo "benign: sshd not available, ssh login skipped"
fi

sleep 1
kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=

# The harness stopping the agent (the kill above) is a real tamper alert
# when the agent reads that kill before it stops: it is not the workload's,
# so it is left out by the harness's own pid, and only that.
python3 - "$alerts" "$$" <<'PY'
import collections, json, sys
bad = []
low = collections.Counter()
harness = int(sys.argv[2])
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    a = json.loads(line)
    if a.get("rule") == "Vigil agent stopped, killed or traced" and (a.get("process") or {}).get("pid") == harness:
        continue
    if a.get("schema") != "vigil.alert/1":
        continue
    if a["severity"] in ("medium", "high", "critical"):
        bad.append(a)
    else:
        low[(a["severity"], a["rule"])] += 1
for (sev, rule), n in sorted(low.items()):
    print("benign: %s %s: %d" % (sev, rule, n))
for a in bad:
    print("benign: ALERT %s %s: %s" % (a["severity"], a["rule"], a["message"]))
print("benign workload: %d alerts of medium or higher" % len(bad))
sys.exit(1 if bad else 0)
PY
