package agent

import (
	"errors"
	"sync"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/engine"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/host"
	"github.com/vigil-sec/vigil/pkg/status"
)

// ruleSources are the vendor rules, the inline ones (vigil run's), the
// pushed bundle, then the local paths: host overrides win.
func (a *Agent) ruleSources() rules.Sources {
	inline := append([]rules.Inline(nil), a.ExtraRules...)
	if b := a.bundle.Load(); b != nil {
		inline = append(inline, b.Inline()...)
	}
	return rules.Sources{Builtin: a.cfg.Rules.Builtin, VendorDir: a.cfg.Rules.VendorDir, Paths: a.cfg.Rules.Paths, Inline: inline}
}

// Reload re-reads the rules (SIGHUP). An invalid set is rejected with its
// errors logged, and the running rules stay. It returns the load error.
func (a *Agent) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	return a.reloadLocked()
}

func (a *Agent) reloadLocked() error {
	rs, err := host.LoadAndCompile(a.ruleSources())
	if err != nil {
		var es rules.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				a.log.Error("rule error, keeping the running rules", zap.String("at", e.Pos.String()), zap.String("error", e.Msg))
			}
		} else {
			a.log.Error("rules not reloaded, keeping the running rules", zap.Error(err))
		}
		return err
	}
	filters, err := KernelFilters(a.cfg, rs)
	if err != nil {
		a.log.Error("rules not reloaded, keeping the running rules", zap.Error(err))
		return err
	}
	for _, t := range rs.Types {
		if !a.types[t] {
			a.log.Warn("rules need an event type that is not attached: restart the agent", zap.Stringer("type", t))
		}
	}
	if a.sensor != nil {
		// All or nothing, stale entries removed: the kernel's filters are
		// exactly what the new rules need, or the old ones stay with the
		// old rules.
		if err := a.sensor.ReplacePrefixes(map[string][]string{
			"watched_prefixes": filters.Watched, "write_watched_prefixes": filters.WriteWatched,
		}); err != nil {
			a.log.Error("rules not reloaded: kernel filters refused, keeping the running rules", zap.Error(err))
			return err
		}
	}
	a.engine.Swap(rs)
	a.reloads.Add(1)
	a.log.Info("rules reloaded", zap.Int("rules", len(rs.Rules)), zap.String("version", rs.Version))
	return nil
}

// Engine is the running detection engine.
func (a *Agent) Engine() *engine.Engine { return a.engine }

// recentAlerts keeps the last alerts raised, for `vigil status` (and so
// `vigil simulate` can check that what it re-enacted was detected).
type recentAlerts struct {
	mu   sync.Mutex
	ring []status.RecentAlert
}

const recentMax = 512

func (r *recentAlerts) Name() string { return "recent" }

func (r *recentAlerts) WriteAlert(a *engine.Alert) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ring) >= recentMax {
		r.ring = append(r.ring[:0], r.ring[len(r.ring)-recentMax/2:]...)
	}
	r.ring = append(r.ring, status.RecentAlert{Rule: a.Rule, Severity: a.Severity.String(), Time: a.Time, PID: a.Process.PID, Exe: a.Process.Exe})
	return nil
}

func (r *recentAlerts) list() []status.RecentAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]status.RecentAlert(nil), r.ring...)
}

// KernelPrefixes lists what one of the sensor's prefix tries holds.
func (a *Agent) KernelPrefixes(mapName string) ([]string, error) {
	if a.sensor == nil {
		return nil, errors.New("sensor not running")
	}
	return a.sensor.Prefixes(mapName)
}
