package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/identity"
	"github.com/vigil-sec/vigil/pkg/transport"
	"github.com/vigil-sec/vigil/pkg/version"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// enrollmentFile records that this host enrolled (its host id and key):
// next to the host id in the state directory.
const enrollmentFile = "enrollment.json"

type enrollment struct {
	HostID      string    `json:"host_id"`
	Env         string    `json:"env"`
	NKey        string    `json:"nkey"`
	InboxPrefix string    `json:"inbox_prefix"`
	Enrolled    time.Time `json:"enrolled"`
}

// seedPath is where an enrolling agent keeps its NKey seed.
func (a *Agent) seedPath() string {
	if a.cfg.NATS.NKey != "" {
		return a.cfg.NATS.NKey
	}
	return filepath.Join(a.cfg.StateDir, "nats.nk")
}

// enrollState is what status says of enrollment.
type enrollState struct {
	mu sync.Mutex
	st alert.EnrollmentState
}

func (e *enrollState) set(f func(*alert.EnrollmentState)) {
	e.mu.Lock()
	f(&e.st)
	e.mu.Unlock()
}

func (e *enrollState) get() *alert.EnrollmentState {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.st
	return &s
}

// enrolled returns the recorded enrollment of this host, or false when it
// must enroll: none yet, or one made for another host id (this machine is
// a clone of an enrolled one: its copied key is discarded).
func (a *Agent) enrolled(host identity.Host) (enrollment, bool) {
	var e enrollment
	path := filepath.Join(a.cfg.StateDir, enrollmentFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return e, false
	}
	if json.Unmarshal(b, &e) != nil || e.HostID == "" {
		return e, false
	}
	if e.HostID != host.ID {
		a.log.Warn("enrolled as another host (a clone): enrolling again with a new key", zap.String("was", e.HostID), zap.String("host_id", host.ID))
		_ = os.Remove(a.seedPath())
		_ = os.Remove(path)
		return e, false
	}
	if _, err := os.Stat(a.seedPath()); err != nil {
		return e, false
	}
	if e.Env != a.cfg.Env {
		// Moved to another environment: enroll again, with the same key,
		// using the token (of the new environment) now configured.
		a.log.Info("configured for another environment: enrolling again", zap.String("was", e.Env), zap.String("env", a.cfg.Env))
		return e, false
	}
	return e, true
}

// enroll asks the backend for this host's credential until it gets one (or
// ctx ends), with the seed generated here. Refusals (a revoked token) are
// retried slowly: a new token in the configuration and a restart fix them.
func (a *Agent) enroll(ctx context.Context, host identity.Host, state *enrollState) (enrollment, error) {
	var e enrollment
	pub, err := transport.EnsureSeed(a.seedPath())
	if err != nil {
		return e, err
	}
	auth := transport.Auth{CA: a.cfg.NATS.CA, Cert: a.cfg.NATS.Cert, Key: a.cfg.NATS.Key}
	opts, err := auth.Options()
	if err != nil {
		return e, err
	}
	req := wire.EnrollRequest{Token: a.cfg.NATS.EnrollToken, HostID: host.ID, NKey: pub, Env: a.cfg.Env, Hostname: host.Hostname, Version: version.Version}
	if host.Cloud != nil {
		req.InstanceID = host.Cloud.InstanceID
	}
	wait := time.Second
	for {
		state.set(func(s *alert.EnrollmentState) { s.State, s.Attempts = "enrolling", s.Attempts+1 })
		resp, err := transport.RequestEnrollment(ctx, a.cfg.NATS.URL, a.seedPath(), req, opts)
		if err == nil && resp.Env != a.cfg.Env {
			err = &transport.RefusedError{Msg: fmt.Sprintf("the deployment token enrolls into env %q, this agent is configured for %q: use a token of its environment", resp.Env, a.cfg.Env)}
		}
		if err == nil {
			e = enrollment{HostID: resp.HostID, Env: resp.Env, NKey: pub, InboxPrefix: resp.InboxPrefix, Enrolled: time.Now().UTC()}
			b, _ := json.Marshal(e)
			path := filepath.Join(a.cfg.StateDir, enrollmentFile)
			if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
				return e, err
			}
			if err := os.Rename(path+".tmp", path); err != nil {
				return e, err
			}
			state.set(func(s *alert.EnrollmentState) {
				s.State, s.Error, s.Enrolled = "enrolled", "", e.Enrolled
			})
			a.log.Info("enrolled", zap.String("host_id", e.HostID), zap.String("env", e.Env))
			return e, nil
		}
		var refused *transport.RefusedError
		next := wait
		if errors.As(err, &refused) {
			next = 5 * time.Minute
			state.set(func(s *alert.EnrollmentState) { s.State = "refused" })
		}
		state.set(func(s *alert.EnrollmentState) { s.Error, s.ErrorAt = err.Error(), time.Now().UTC() })
		a.log.Warn("enrollment failed; alerts wait in the spool", zap.Error(err), zap.Duration("retry_in", next))
		select {
		case <-ctx.Done():
			return e, ctx.Err()
		case <-time.After(next):
		}
		if wait < time.Minute {
			wait *= 2
		}
	}
}
