package proc

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Pod is the Kubernetes identity of a container: from its cgroup path (the
// pod uid, as the kubelet names the pod's cgroup) and from the container's
// OCI bundle annotations (name and namespace, as containerd's CRI plugin
// and cri-o write them).
type Pod struct {
	Name      string
	Namespace string
	UID       string
	Container string
}

// The kubelet's pod cgroup: kubepods-<qos>-pod<uid, - as _>.slice with the
// systemd driver, pod<uid> with cgroupfs.
var podCgroup = regexp.MustCompile(`(?:^|/)kubepods(?:-[a-z]+)*-pod([0-9a-f_]{36})\.slice(?:/|$)|(?:^|/)kubepods/(?:[a-z]+/)?pod([0-9a-f-]{36})(?:/|$)`)

// PodUIDFromCgroup is the pod uid a cgroup path names, or "".
func PodUIDFromCgroup(p string) string {
	m := podCgroup.FindStringSubmatch(p)
	if m == nil {
		return ""
	}
	if m[1] != "" {
		return strings.ReplaceAll(m[1], "_", "-")
	}
	return m[2]
}

// PodFromOCIConfig reads a pod's identity from an OCI runtime config's
// annotations (containerd's io.kubernetes.cri.*, cri-o's io.kubernetes.*);
// ok is false when it names no pod.
func PodFromOCIConfig(b []byte) (Pod, bool) {
	var cfg struct {
		Annotations map[string]string `json:"annotations"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return Pod{}, false
	}
	a := cfg.Annotations
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := a[k]; v != "" {
				return bounded(v)
			}
		}
		return ""
	}
	p := Pod{
		Name:      first("io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"),
		Namespace: first("io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"),
		UID:       first("io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"),
		Container: first("io.kubernetes.cri.container-name", "io.kubernetes.container.name"),
	}
	return p, p.Name != "" && p.Namespace != ""
}

// bounded keeps annotation values to a Kubernetes name's size.
func bounded(s string) string {
	if len(s) > 253 {
		return s[:253]
	}
	return s
}
