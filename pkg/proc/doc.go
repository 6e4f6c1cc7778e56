// Package proc keeps Vigil's view of the host's processes: a process tree
// seeded from /proc and maintained from fork, exec and exit events, with
// stable execution ids and bounded ancestry; container ids resolved from
// cgroup paths; and user and group names from passwd and group files. Every
// host path is rooted at an injectable directory so tests read fixtures.
package proc
