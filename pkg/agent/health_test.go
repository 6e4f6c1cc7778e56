package agent

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/engine"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/spool"
	"github.com/vigil-sec/vigil/pkg/status"
)

// Losses raise a "Sensor degraded" alert with the counts, at most once per
// interval; what is lost in between goes into the next one (queue drops
// used to raise nothing at all).
func TestDegradedAlertRateLimitedWithCounts(t *testing.T) {
	snap := status.Snapshot{Types: []status.TypeCounters{{Type: "open"}, {Type: "exec"}}, Transport: &status.TransportStats{Spool: &spool.Stats{}}}
	var got []*engine.Alert
	h := newHealth(zap.NewNop(), time.Second, time.Minute, func() status.Snapshot { return snap }, func(a *engine.Alert) { got = append(got, a) })
	h.prev, h.base = count(snap), count(snap)
	t0 := time.Unix(1000, 0)

	h.check(t0)
	if len(got) != 0 || h.degraded.Load() {
		t.Fatal("alert without losses")
	}
	snap.Types[0].QueueDrops = 500
	h.check(t0.Add(time.Second))
	if len(got) != 1 || !h.degraded.Load() {
		t.Fatalf("%d alerts after queue drops", len(got))
	}
	a := got[0]
	if a.Rule != DegradedRule || a.Severity != rules.Medium || a.Counts["queue.open"] != 500 || !strings.Contains(a.Message, "500 events") {
		t.Errorf("first alert %+v", a)
	}
	// More losses within the interval: logged, not alerted.
	snap.Types[1].KernelDrops = 7
	snap.Transport.Spool.Dropped[4] = 2 // high alerts shed by the spool
	snap.Health.AlertWriteFailures = []status.SinkFailures{{Sink: "stdout", BySeverity: map[string]uint64{"low": 3}}}
	h.check(t0.Add(2 * time.Second))
	if len(got) != 1 {
		t.Fatalf("rate limit broken: %d alerts", len(got))
	}
	h.check(t0.Add(3 * time.Second))
	if h.degraded.Load() {
		t.Error("still degraded without new losses")
	}
	h.check(t0.Add(2 * time.Minute))
	if len(got) != 2 {
		t.Fatalf("%d alerts after the interval", len(got))
	}
	a = got[1]
	// Exec events and high alerts lost: high; the queue drops already
	// reported are not counted again.
	if a.Severity != rules.High || a.Counts["ring_buffer.exec"] != 7 || a.Counts["spool.high"] != 2 ||
		a.Counts["alert_write.stdout.low"] != 3 || a.Counts["queue.open"] != 0 {
		t.Errorf("second alert %v %+v", a.Severity, a.Counts)
	}
	if !strings.Contains(a.Message, "7 events and 5 alerts lost") {
		t.Errorf("message %q", a.Message)
	}
	if h.alerts.Load() != 2 {
		t.Errorf("counted %d", h.alerts.Load())
	}
}
