package agent

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/engine"
	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/status"
)

// DegradedRule names the alert the agent raises about itself when it loses
// data (ring buffer or queue drops, failed alert writes, spool shedding).
const DegradedRule = "Sensor degraded"

// health watches the loss counters. Each check that finds new losses logs
// one line with what was lost since the last check; at most one "Sensor
// degraded" alert per alert interval carries everything lost since the
// previous alert. Nothing here runs per event.
type health struct {
	log      *zap.Logger
	every    time.Duration
	gap      time.Duration
	snapshot func() status.Snapshot
	emit     func(*engine.Alert)

	mu        sync.Mutex
	prev      losses // at the last check
	base      losses // at the last alert
	lastAlert time.Time

	degraded atomic.Bool
	alerts   atomic.Uint64

	// sink errors are logged as they happen, at most once per interval.
	sinkLogMu   sync.Mutex
	sinkLogAt   time.Time
	sinkLogSkip int
}

// losses are the loss counters by name, e.g. "ring_buffer.exec",
// "queue.open", "alert_write.stdout.low", "spool.info".
type losses map[string]uint64

func newHealth(log *zap.Logger, every, gap time.Duration, snapshot func() status.Snapshot, emit func(*engine.Alert)) *health {
	return &health{log: log, every: every, gap: gap, snapshot: snapshot, emit: emit}
}

// count reads the loss counters from a status snapshot.
func count(s status.Snapshot) losses {
	l := losses{}
	add := func(k string, v uint64) {
		if v > 0 {
			l[k] += v
		}
	}
	for _, t := range s.Types {
		add("ring_buffer."+t.Type, t.KernelDrops)
		add("queue."+t.Type, t.QueueDrops)
	}
	for _, f := range s.Health.AlertWriteFailures {
		for sev, n := range f.BySeverity {
			add("alert_write."+f.Sink+"."+sev, n)
		}
	}
	add("event_write", s.Health.EventWriteFailures)
	add("shutdown", s.Health.ShutdownDiscarded)
	add("decode", s.DecodeErrors)
	if t := s.Transport; t != nil && t.Spool != nil {
		for i, n := range t.Spool.Dropped {
			add("spool."+status.SpoolSeverityNames[i], n)
		}
	}
	return l
}

// since is what grew from base to l.
func (l losses) since(base losses) losses {
	d := losses{}
	for k, v := range l {
		if v > base[k] {
			d[k] = v - base[k]
		}
	}
	return d
}

func (h *health) run(stop <-chan struct{}) {
	h.mu.Lock()
	h.prev = count(h.snapshot())
	h.base = h.prev
	h.mu.Unlock()
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			h.check(now)
		}
	}
}

// check compares the counters with the last check and the last alert.
func (h *health) check(now time.Time) {
	cur := count(h.snapshot())
	h.mu.Lock()
	defer h.mu.Unlock()
	fresh := cur.since(h.prev)
	h.prev = cur
	h.degraded.Store(len(fresh) > 0)
	if len(fresh) > 0 {
		h.log.Warn("data lost", zap.String("lost", fresh.String()))
	}
	pending := cur.since(h.base)
	if len(pending) == 0 || (!h.lastAlert.IsZero() && now.Sub(h.lastAlert) < h.gap) {
		return
	}
	h.base, h.lastAlert = cur, now
	h.alerts.Add(1)
	h.emit(degradedAlert(now, pending))
}

// sinkError logs a failed alert write, rate-limited; it is counted by the
// engine.
func (h *health) sinkError(sink string, a *engine.Alert, err error) {
	h.sinkLogMu.Lock()
	defer h.sinkLogMu.Unlock()
	if now := time.Now(); now.Sub(h.sinkLogAt) >= h.every {
		h.log.Error("alert not written", zap.String("sink", sink), zap.String("rule", a.Rule),
			zap.Stringer("severity", a.Severity), zap.Int("suppressed_since", h.sinkLogSkip), zap.Error(err))
		h.sinkLogAt, h.sinkLogSkip = now, 0
		return
	}
	h.sinkLogSkip++
}

func (l losses) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, l[k]))
	}
	return strings.Join(parts, " ")
}

// lifecycle tells whether a loss key is about process lineage or alerts of
// medium and above: those make the alert high.
func serious(k string) bool {
	for _, t := range []event.Type{event.TypeExec, event.TypeExit, event.TypeFork} {
		if k == "ring_buffer."+t.String() || k == "queue."+t.String() {
			return true
		}
	}
	for _, sev := range []string{"medium", "high", "critical"} {
		if strings.HasSuffix(k, "."+sev) {
			return true
		}
	}
	return k == "shutdown"
}

// degradedAlert describes what was lost. Medium; high when process lineage
// (exec, exit, fork) or alerts of medium and above were lost.
func degradedAlert(now time.Time, lost losses) *engine.Alert {
	sev := rules.Medium
	var events, alerts uint64
	for k, v := range lost {
		if serious(k) {
			sev = rules.High
		}
		switch {
		case strings.HasPrefix(k, "ring_buffer."), strings.HasPrefix(k, "queue."), k == "event_write", k == "spool.telemetry", k == "decode", k == "shutdown":
			events += v
		default:
			alerts += v
		}
	}
	exe, _ := os.Executable()
	return &engine.Alert{
		Time:      now,
		Rule:      DegradedRule,
		Severity:  sev,
		Tactic:    "defense-evasion",
		Technique: "T1562.001",
		Tags:      []string{"sensor-health"},
		Message:   fmt.Sprintf("Sensor degraded: %d events and %d alerts lost (%s)", events, alerts, lost),
		Description: "The agent lost data: events dropped in the ring buffer or its queue, or alerts it could not write " +
			"(a full disk, an output failing). A flood of events can be an attempt to blind the sensor.",
		Remediation: "See `vigil status` (health, spool) and the agent's log; free disk space under the spool, " +
			"raise ring_buffer_bytes or queue_size, or narrow noisy rules.",
		Process: event.Process{PID: uint32(os.Getpid()), Exe: exe, Name: "vigil"},
		Counts:  map[string]uint64(lost),
	}
}
