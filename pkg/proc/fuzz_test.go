package proc

import (
	"bytes"
	"strings"
	"testing"
)

// /proc/<pid>/stat holds comm, which any process sets (prctl PR_SET_NAME).
func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (cat) R 7 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123 0 0"))
	f.Add([]byte("1 ()) ) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseStat(b)
		_ = ParseCmdline(b)
		_, _ = ParseStatusUID(b)
	})
}

// Cgroup paths are chosen by whoever creates the cgroup.
func FuzzParseCgroupPath(f *testing.F) {
	f.Add("/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope")
	f.Add("/machine.slice/machine-a\\x2db.scope")
	f.Fuzz(func(t *testing.T, p string) {
		id, rt := ParseCgroupPath(p)
		if rt == "" || (rt == RuntimeHost && id != "") {
			t.Fatalf("inconsistent (%q, %q)", id, rt)
		}
		_ = CgroupPathFromProc(p)
	})
}

// passwd and group are edited by admins and by attackers who got root.
func FuzzParseIDFile(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ParseIDFile(bytes.NewReader(b))
	})
}

// OCI configs are read from container bundles: whatever they hold, the
// parser does not panic and returns bounded names.
func FuzzPodFromOCIConfig(f *testing.F) {
	f.Add([]byte(`{"annotations":{"io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"prod"}}`))
	f.Add([]byte(`{"annotations":{"io.kubernetes.pod.name":"a","io.kubernetes.pod.namespace":"b","io.kubernetes.pod.uid":"c"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := PodFromOCIConfig(b)
		if ok && (p.Name == "" || p.Namespace == "" || len(p.Name) > 253 || len(p.Namespace) > 253) {
			t.Fatalf("%+v", p)
		}
	})
}

func FuzzPodUIDFromCgroup(f *testing.F) {
	f.Add("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_6789_abcd_ef0123456789.slice/cri-containerd-" + strings.Repeat("a", 64) + ".scope")
	f.Add("/kubepods/burstable/pod0a1b2c3d-4e5f-6789-abcd-ef0123456789/" + strings.Repeat("b", 64))
	f.Fuzz(func(t *testing.T, p string) {
		if u := PodUIDFromCgroup(p); u != "" && len(u) != 36 {
			t.Fatalf("uid %q", u)
		}
	})
}
