package proc

import (
	"bytes"
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
