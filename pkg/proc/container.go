package proc

import (
	"regexp"
	"strings"
)

// Container runtimes reported by ParseCgroupPath.
const (
	RuntimeHost       = "host"
	RuntimeDocker     = "docker"
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimePodman     = "podman"
	RuntimeNspawn     = "systemd-nspawn"
)

var (
	hex64 = `([0-9a-f]{64})`
	// Order matters: the first match wins.
	cgroupPatterns = []struct {
		re      *regexp.Regexp
		runtime string
	}{
		{regexp.MustCompile(`(?:^|/)docker-` + hex64 + `\.scope(?:/|$)`), RuntimeDocker},
		{regexp.MustCompile(`(?:^|/)docker/` + hex64 + `(?:/|$)`), RuntimeDocker},
		{regexp.MustCompile(`(?:^|/)cri-containerd-` + hex64 + `\.scope(?:/|$)`), RuntimeContainerd},
		{regexp.MustCompile(`(?:^|/)crio-` + hex64 + `\.scope(?:/|$)`), RuntimeCRIO},
		{regexp.MustCompile(`(?:^|/)crio/` + hex64 + `(?:/|$)`), RuntimeCRIO},
		{regexp.MustCompile(`(?:^|/)libpod-` + hex64 + `\.scope(?:/|$)`), RuntimePodman},
		{regexp.MustCompile(`(?:^|/)libpod_parent/libpod-` + hex64 + `(?:/|$)`), RuntimePodman},
		// Kubernetes with the cgroupfs driver: /kubepods/<qos>/pod<uid>/<id>
		{regexp.MustCompile(`(?:^|/)kubepods/(?:[a-z]+/)?pod[0-9a-f_-]+/` + hex64 + `(?:/|$)`), RuntimeContainerd},
		{regexp.MustCompile(`(?:^|/)containerd/` + hex64 + `(?:/|$)`), RuntimeContainerd},
	}
	machineScope = regexp.MustCompile(`(?:^|/)machine\.slice/machine-([^/]+)\.scope(?:/|$)`)
)

// ParseCgroupPath returns the container id and runtime of a cgroup path, or
// ("", RuntimeHost) when the path is not a container's.
func ParseCgroupPath(p string) (id, runtime string) {
	for _, pat := range cgroupPatterns {
		if m := pat.re.FindStringSubmatch(p); m != nil {
			return m[1], pat.runtime
		}
	}
	if m := machineScope.FindStringSubmatch(p); m != nil {
		return unescapeUnit(m[1]), RuntimeNspawn
	}
	return "", RuntimeHost
}

// unescapeUnit undoes systemd's \xNN escaping in unit names.
func unescapeUnit(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, ok := hexByte(s[i+2], s[i+3]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hexByte(a, b byte) (byte, bool) {
	h := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	x, ok1 := h(a)
	y, ok2 := h(b)
	return x<<4 | y, ok1 && ok2
}

// ContainerFromProcCgroup returns the container of a /proc/<pid>/cgroup
// file's content: the first hierarchy whose path names a container wins (on
// hybrid hosts the v1 lines may carry the id while the v2 path is "/").
func ContainerFromProcCgroup(content string) (id, runtime string) {
	id, runtime, _ = containerLine(content)
	return id, runtime
}

// containerLine is ContainerFromProcCgroup with the cgroup path that named
// the container.
func containerLine(content string) (id, runtime, path string) {
	for rest := content; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if p, ok := cgroupLinePath(line); ok {
			if id, rt := ParseCgroupPath(p); rt != RuntimeHost {
				return id, rt, p
			}
		}
	}
	return "", RuntimeHost, ""
}

// cgroupLinePath is the path of a /proc/<pid>/cgroup line
// (hierarchy:controllers:path).
func cgroupLinePath(line string) (string, bool) {
	_, rest, ok := strings.Cut(line, ":")
	if !ok {
		return "", false
	}
	_, p, ok := strings.Cut(rest, ":")
	return p, ok
}

// CgroupPathFromProc returns the cgroup v2 path (the "0::" line) of a
// /proc/<pid>/cgroup file's content, or the first path on a v1 host.
func CgroupPathFromProc(content string) string {
	first := ""
	for rest := content; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
		if p, ok := cgroupLinePath(line); ok && first == "" {
			first = p
		}
	}
	return first
}
