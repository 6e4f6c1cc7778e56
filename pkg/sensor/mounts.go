package sensor

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is a pseudo-filesystem the sensor or the preflight needs.
type Mount struct {
	FSType string
	Path   string
}

// Needed pseudo-filesystems: tracefs gives tracepoint ids to libbpf; bpffs and
// securityfs are checked by the preflight (lockdown is read from securityfs).
var (
	Tracefs    = Mount{"tracefs", "/sys/kernel/tracing"}
	BPFFS      = Mount{"bpf", "/sys/fs/bpf"}
	Securityfs = Mount{"securityfs", "/sys/kernel/security"}
)

// Mounted reports whether a filesystem of m's type is mounted at m.Path,
// reading the given mountinfo file.
func Mounted(mountinfo string, m Mount) (bool, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return mountedIn(bufio.NewScanner(f), m), nil
}

func mountedIn(sc *bufio.Scanner, m Mount) bool {
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		if filepath.Clean(fields[4]) == m.Path && fields[sep+1] == m.FSType {
			return true
		}
	}
	return false
}

// EnsureMounted mounts m when it is absent. It returns whether it mounted.
func EnsureMounted(m Mount) (bool, error) {
	ok, err := Mounted("/proc/self/mountinfo", m)
	if err != nil {
		return false, err
	}
	if ok {
		return false, nil
	}
	if err := unix.Mount(m.FSType, m.Path, m.FSType, 0, ""); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return false, nil
		}
		return false, fmt.Errorf("mount %s at %s: %w", m.FSType, m.Path, err)
	}
	return true, nil
}
