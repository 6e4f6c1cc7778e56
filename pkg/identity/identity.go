package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// appSalt keeps Vigil's host id unlinkable to the raw machine-id (which
// systemd asks applications not to expose).
const appSalt = "vigil-host-id-v1"

// Host is what every alert and heartbeat carries about its sender.
type Host = alert.HostInfo

// stored is the id file's content.
type stored struct {
	ID      string `json:"id"`
	Machine string `json:"machine"` // hash of the machine-id (and instance id) it was derived from
}

// ErrNoMachineID is returned when /etc/machine-id is missing or empty.
var ErrNoMachineID = errors.New("no machine id")

// HostID returns the host's stable id, stored in stateDir. It is derived
// from root/etc/machine-id (and the cloud instance id, when known) with an
// application salt. When the stored id was derived from another machine's
// identity, the machine is a clone: it gets a fresh id, and cloned is true.
func HostID(root, stateDir, instanceID string) (id string, cloned bool, err error) {
	b, err := os.ReadFile(filepath.Join(root, "etc/machine-id"))
	mid := strings.TrimSpace(string(b))
	if err != nil || mid == "" {
		return "", false, fmt.Errorf("%w: %v", ErrNoMachineID, err)
	}
	machine := digest(appSalt, "machine", mid, instanceID)
	want := digest(appSalt, "host", mid, instanceID)[:20]
	path := filepath.Join(stateDir, "host-id")
	if b, err := os.ReadFile(path); err == nil {
		var s stored
		if json.Unmarshal(b, &s) == nil && s.ID != "" {
			if s.Machine == machine {
				return s.ID, false, nil
			}
			cloned = true
		}
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", false, err
	}
	out, _ := json.Marshal(stored{ID: want, Machine: machine})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, err
	}
	return want, cloned, nil
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// OSName returns PRETTY_NAME from an os-release file's content.
func OSName(osRelease string) string {
	for _, line := range strings.Split(osRelease, "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// Describe fills everything but the id and the cloud part from the host below root.
func Describe(root, version, env string, tags map[string]string) Host {
	h := Host{AgentVersion: version, Env: env, Tags: tags}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile(filepath.Join(root, "etc/os-release")); err == nil {
		h.OS = OSName(string(b))
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		h.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	return h
}
