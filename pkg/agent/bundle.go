package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/host"
)

// bundleCache keeps the last pushed bundle that ran, so a restart without
// the backend runs it from the start.
const bundleCache = "rules-bundle.json"

// bundleState is the pushed bundle's state for status and heartbeats.
type bundleState struct {
	mu      sync.Mutex
	st      alert.BundleState
	watched bool
}

func (b *bundleState) set(f func(*alert.BundleState)) {
	b.mu.Lock()
	f(&b.st)
	b.mu.Unlock()
}

func (b *bundleState) get() *alert.BundleState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.watched && b.st.Version == "" && b.st.Error == "" {
		return nil
	}
	s := b.st
	return &s
}

// loadCachedBundle takes the bundle that ran last, if it still compiles
// with the rules around it.
func (a *Agent) loadCachedBundle() {
	path := filepath.Join(a.cfg.StateDir, bundleCache)
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	b, err := a.checkBundle(data)
	if err == nil {
		a.bundle.Store(b)
		if _, err = host.LoadAndCompile(a.ruleSources()); err != nil {
			a.bundle.Store(nil)
		}
	}
	if err != nil {
		a.log.Warn("cached rule bundle ignored", zap.String("file", path), zap.Error(err))
		return
	}
	a.bundles.set(func(s *alert.BundleState) { s.Version, s.Applied = b.Version, time.Now().UTC() })
	a.log.Info("pushed rules from the cache", zap.String("bundle", b.Version))
}

// checkBundle parses a pushed bundle and checks it for this agent: its
// environment, then every rule against this binary's schemas.
func (a *Agent) checkBundle(data []byte) (*rules.Bundle, error) {
	b, err := rules.ParseBundle(data)
	if err != nil {
		return nil, err
	}
	if b.Env != a.cfg.Env {
		return b, fmt.Errorf("bundle %s is for env %q, this agent is in %q", b.Version, b.Env, a.cfg.Env)
	}
	if err := b.Check(a.cfg.Rules.Builtin, a.cfg.Rules.VendorDir); err != nil {
		return b, err
	}
	return b, nil
}

// applyBundle runs a pushed bundle (nil data: it was deleted): the rules
// are reloaded with it; if they do not compile, or the kernel filters are
// refused, the running rules and bundle stay and the error is reported
// (status, heartbeats, the journal).
func (a *Agent) applyBundle(data []byte) {
	var b *rules.Bundle
	if data != nil {
		var err error
		if b, err = a.checkBundle(data); err != nil {
			a.bundleError(b, err)
			return
		}
		if cur := a.bundle.Load(); cur != nil && cur.Version == b.Version {
			return
		}
	}
	a.reloadMu.Lock()
	prev := a.bundle.Swap(b)
	err := a.reloadLocked()
	if err != nil {
		a.bundle.Store(prev)
	}
	a.reloadMu.Unlock()
	if err != nil {
		a.bundleError(b, err)
		return
	}
	path := filepath.Join(a.cfg.StateDir, bundleCache)
	if b == nil {
		_ = os.Remove(path)
		a.bundles.set(func(s *alert.BundleState) { *s = alert.BundleState{Applied: time.Now().UTC()} })
		a.log.Info("pushed rules removed")
		return
	}
	if err := os.WriteFile(path+".tmp", data, 0o600); err == nil {
		_ = os.Rename(path+".tmp", path)
	}
	a.bundles.set(func(s *alert.BundleState) { *s = alert.BundleState{Version: b.Version, Applied: time.Now().UTC()} })
	a.log.Info("pushed rules running", zap.String("bundle", b.Version))
}

func (a *Agent) bundleError(b *rules.Bundle, err error) {
	v := ""
	if b != nil {
		v = b.Version
	}
	a.bundles.set(func(s *alert.BundleState) { s.Error, s.ErrorAt, s.Rejected = err.Error(), time.Now().UTC(), v })
	a.log.Error("pushed rules refused, keeping the running rules", zap.String("bundle", v), zap.Error(err))
}

// watchBundle follows the pushed bundle of the agent's env once delivery
// is connected (after enrollment).
func (a *Agent) watchBundle(ctx context.Context, d *delivery) {
	a.bundles.mu.Lock()
	a.bundles.watched = true
	a.bundles.mu.Unlock()
	for d.pub.Load() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	d.pub.Load().WatchBundle(ctx, a.cfg.Env, 30*time.Second, func(data []byte, _ uint64) { a.applyBundle(data) },
		func(err error) {
			a.bundles.set(func(s *alert.BundleState) { s.Error, s.ErrorAt = err.Error(), time.Now().UTC() })
			a.log.Warn("pushed rules not watched", zap.Error(err))
		})
}
