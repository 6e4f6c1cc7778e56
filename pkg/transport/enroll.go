package transport

import (
	"errors"
	"fmt"
	"os"

	"github.com/vigil-sec/vigil/pkg/wire"
)

// Enrollment is a host's NATS identity and the permissions that confine it.
type Enrollment struct {
	HostID    string   `json:"host_id"`
	Env       string   `json:"env"`
	PublicKey string   `json:"nkey"`
	SeedFile  string   `json:"seed_file"`
	Publish   []string `json:"publish_allow"`
	Subscribe []string `json:"subscribe_allow"`
}

// HostPermissions are the subjects a host may use: publish only its own
// alerts, events and heartbeats (JetStream acks come back on its inbox).
func HostPermissions(env, hostID string) (pub, sub []string) {
	return wire.HostPermissions(env, hostID), []string{"_INBOX.>"}
}

// Enroll creates the host's NKey user seed at seedFile (0600, refusing to
// overwrite one) and returns the server-side entry to authorize it.
func Enroll(env, hostID, seedFile string) (Enrollment, error) {
	var e Enrollment
	if _, err := os.Stat(seedFile); err == nil {
		return e, fmt.Errorf("%s exists: this host is already enrolled", seedFile)
	} else if !errors.Is(err, os.ErrNotExist) {
		return e, err
	}
	pubKey, err := EnsureSeed(seedFile)
	if err != nil {
		return e, err
	}
	pub, sub := HostPermissions(env, hostID)
	return Enrollment{HostID: hostID, Env: env, PublicKey: pubKey, SeedFile: seedFile, Publish: pub, Subscribe: sub}, nil
}

// ServerConfig renders the nats-server authorization entry for the host.
func (e Enrollment) ServerConfig() string {
	return fmt.Sprintf(`# vigil host %s (env %s)
{ nkey: %s
  permissions: { publish: { allow: [%q] }, subscribe: { allow: [%q] } } }
`, e.HostID, e.Env, e.PublicKey, e.Publish[0], e.Subscribe[0])
}
