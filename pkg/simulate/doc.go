// Package simulate re-enacts attacker behaviours safely, so that a running
// agent's rules can be checked end to end (`vigil simulate`). It owns os/exec
// for this purpose.
//
// Safety: nothing leaves loopback (a fake metadata address, 127.0.0.254,
// stands in for IMDS; rules are pointed at it with an override); system
// paths are only ever written inside a child process with a private mount
// namespace whose /etc, /root, /var/log and similar are fresh tmpfs mounts;
// programs named like attacker tools are copies of /bin/true; every file and
// cgroup created is removed.
package simulate
