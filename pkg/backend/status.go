package backend

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-sec/vigil/pkg/backend/route"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/version"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// Status is GET /api/v1/status: every counter, so nothing is lost unseen.
type Status struct {
	Version string        `json:"version"`
	Uptime  time.Duration `json:"uptime_ns"`
	NATS    struct {
		URL       string `json:"url"`
		Embedded  bool   `json:"embedded"`
		Connected bool   `json:"connected"`
		// FollowerResets counts stream followers (index, heartbeats,
		// threat view) re-created after they stalled on a server.
		FollowerResets uint64 `json:"follower_resets"`
	} `json:"nats"`
	Streams []store.StreamState `json:"streams"`
	Rules   struct {
		Cloud   int    `json:"cloud"`
		Version string `json:"version"`
		// Bundle is the pushed bundle this instance runs (vigil rules push).
		Bundle BundleStatus `json:"bundle"`
	} `json:"rules"`
	Enrollment EnrollmentStatus `json:"enrollment"`
	Detect     struct {
		Records       uint64 `json:"cloud_records"`
		Alerts        uint64 `json:"agent_alerts"`
		Detections    uint64 `json:"detections"`
		Duplicates    uint64 `json:"duplicates"`
		Malformed     uint64 `json:"malformed"`
		PublishErrors uint64 `json:"publish_errors"`
		Redelivered   uint64 `json:"redelivered"`
		EvalErrors    uint64 `json:"eval_errors"`
		Evicted       uint64 `json:"threshold_keys_evicted"`
	} `json:"detect"`
	Correlate struct {
		Detections uint64 `json:"detections"`
		Records    uint64 `json:"cloud_records"`
		Heartbeats uint64 `json:"heartbeats"`
		Derived    uint64 `json:"derived_detections"`
		Saved      uint64 `json:"threat_writes"`
		Conflicts  uint64 `json:"threat_write_conflicts"`
		SaveErrors uint64 `json:"threat_write_errors"`
		Malformed  uint64 `json:"malformed"`
		Opened     uint64 `json:"threats_opened"`
		Merged     uint64 `json:"threats_merged"`
		Pending    uint64 `json:"pending_detections"`
		Hosts      int    `json:"hosts"`
		Threats    int    `json:"threats_stored"`
		// Leading: this instance correlates (holds a partition's lease).
		Leading bool `json:"leading"`
		// Partitions is how many there are; Held, those this instance
		// correlates.
		Partitions int   `json:"partitions"`
		Held       []int `json:"partitions_held"`
	} `json:"correlate"`
	Index struct {
		Detections int    `json:"detections"`
		Dropped    uint64 `json:"dropped"`
		Malformed  uint64 `json:"malformed"`
	} `json:"index"`
	// Outputs are the outputs' deliveries (live on the instance that
	// routes: Routing).
	Outputs []route.Snapshot `json:"outputs"`
	Routing struct {
		Leading     bool `json:"leading"`
		DeadLetters int  `json:"dead_letters"`
	} `json:"routing"`
	Ingest struct {
		Push struct {
			Read, Published, Duplicates, Malformed, Failed int
		} `json:"push"`
		Dirs struct {
			Records, Published, Duplicates, Malformed, Errors uint64
		} `json:"dirs"`
	} `json:"ingest"`
}

func (b *Backend) statusDoc(ctx context.Context) Status {
	var s Status
	s.Version, s.Uptime = version.Version, time.Since(b.started)
	s.NATS.URL, s.NATS.Embedded, s.NATS.Connected = b.natsURL, b.bus != nil, b.conn.Connected()
	s.NATS.FollowerResets = b.conn.FollowResets()
	for _, name := range []string{wire.DefaultAgentStream, wire.CloudStream, wire.DetectionStream, wire.DeadLetterStream} {
		st, _ := b.conn.Stream(ctx, name)
		s.Streams = append(s.Streams, st)
	}
	s.Rules.Cloud, s.Rules.Version = len(b.rules.Rules), b.rules.Version
	if st := b.stage; st != nil {
		rs := st.Detector().Ruleset()
		s.Rules.Cloud, s.Rules.Version = len(rs.Rules), rs.Version
	}
	s.Rules.Bundle, s.Enrollment = b.bundleStatus(), b.enrollmentStatus()
	if st := b.stage; st != nil {
		d := &s.Detect
		d.Records, d.Alerts, d.Detections = st.Stats.Records.Load(), st.Stats.Alerts.Load(), st.Stats.Detections.Load()
		d.Duplicates, d.Malformed, d.PublishErrors = st.Stats.Duplicates.Load(), st.Stats.Malformed.Load(), st.Stats.PublishErrors.Load()
		d.Redelivered = st.Stats.Redelivered.Load()
		d.EvalErrors, d.Evicted = st.Detector().Stats.EvalErrors.Load(), st.Detector().Stats.Evicted.Load()
	}
	if t := b.threats; t != nil {
		c := &s.Correlate
		c.Detections, c.Records, c.Heartbeats = t.Stats.Detections.Load(), t.Stats.Records.Load(), t.Stats.Heartbeats.Load()
		c.Derived, c.Saved, c.Conflicts = t.Stats.Derived.Load(), t.Stats.Saved.Load(), t.Stats.Conflicts.Load()
		c.SaveErrors, c.Malformed = t.Stats.SaveErrors.Load(), t.Stats.Malformed.Load()
		es := t.EngineStats()
		c.Opened, c.Merged, c.Pending, c.Hosts = es.Opened, es.Merged, es.Pending, t.Graph().Hosts()
		c.Leading, c.Partitions, c.Held = t.Leading(), t.Partitions(), t.Held()
		c.Threats = b.view.Len()
	}
	s.Outputs = []route.Snapshot{}
	if r := b.routing; r != nil {
		s.Outputs, s.Routing.Leading, s.Routing.DeadLetters = r.snapshots(), r.Leading(), r.dead.count()
	}
	s.Index.Detections, s.Index.Dropped, s.Index.Malformed = b.index.Len(), b.index.Dropped.Load(), b.index.Malformed.Load()
	b.pushMu.Lock()
	p := b.pushed
	b.pushMu.Unlock()
	s.Ingest.Push.Read, s.Ingest.Push.Published, s.Ingest.Push.Duplicates, s.Ingest.Push.Malformed, s.Ingest.Push.Failed =
		p.Read, p.Published, p.Duplicates, p.Malformed, p.Failed
	if w := b.watcher; w != nil {
		d := &s.Ingest.Dirs
		d.Records, d.Published, d.Duplicates = w.Stats.Records.Load(), w.Stats.Published.Load(), w.Stats.Duplicates.Load()
		d.Malformed, d.Errors = w.Stats.Malformed.Load(), w.Stats.Errors.Load()
	}
	return s
}

func (b *Backend) status(ctx context.Context) any { return b.statusDoc(ctx) }

// metrics exports the status counters for Prometheus (vigil_backend_*).
func (b *Backend) metrics() http.Handler {
	reg := prometheus.NewRegistry()
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_backend_" + name, Help: help}, f))
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_backend_" + name, Help: help}, f))
	}
	stat := func(f func(*Backend) uint64) func() float64 {
		return func() float64 {
			if b.stage == nil || b.threats == nil {
				return 0
			}
			return float64(f(b))
		}
	}
	counter("cloud_records_total", "Cloud records evaluated.", stat(func(b *Backend) uint64 { return b.stage.Stats.Records.Load() }))
	counter("agent_alerts_total", "Agent alerts turned into runtime detections.", stat(func(b *Backend) uint64 { return b.stage.Stats.Alerts.Load() }))
	counter("detections_total", "Detections stored.", stat(func(b *Backend) uint64 { return b.stage.Stats.Detections.Load() }))
	counter("detection_duplicates_total", "Detections already stored (redelivery, re-ingestion).", stat(func(b *Backend) uint64 { return b.stage.Stats.Duplicates.Load() }))
	counter("malformed_messages_total", "Messages that could not be decoded (acked and counted).", stat(func(b *Backend) uint64 { return b.stage.Stats.Malformed.Load() }))
	counter("publish_errors_total", "Detection batches left for redelivery after a publish failure.", stat(func(b *Backend) uint64 { return b.stage.Stats.PublishErrors.Load() }))
	counter("follower_resets_total", "Stream followers re-created after they stalled on a NATS server.", func() float64 { return float64(b.conn.FollowResets()) })
	counter("correlated_detections_total", "Detections the correlation joined or kept.", stat(func(b *Backend) uint64 { return b.threats.Stats.Detections.Load() }))
	counter("threat_writes_total", "Threat writes to the KV bucket.", stat(func(b *Backend) uint64 { return b.threats.Stats.Saved.Load() }))
	counter("threat_write_errors_total", "Detection batches left for redelivery after a threat write failed.", stat(func(b *Backend) uint64 { return b.threats.Stats.SaveErrors.Load() }))
	counter("correlate_malformed_total", "Messages the correlation could not decode (acked and counted).", stat(func(b *Backend) uint64 { return b.threats.Stats.Malformed.Load() }))
	counter("rule_eval_errors_total", "Rule conditions that failed to evaluate.", stat(func(b *Backend) uint64 { return b.stage.Detector().Stats.EvalErrors.Load() }))
	counter("threshold_keys_evicted_total", "Threshold keys forgotten to stay within bounds.", stat(func(b *Backend) uint64 { return b.stage.Detector().Stats.Evicted.Load() }))
	gauge("index_detections", "Detections in the query index.", func() float64 { return float64(b.index.Len()) })
	counter("index_dropped_total", "Detections dropped from the in-memory index (still in the stream).", func() float64 { return float64(b.index.Dropped.Load()) })
	gauge("nats_connected", "1 when connected to NATS.", func() float64 {
		if b.conn.Connected() {
			return 1
		}
		return 0
	})
	counter("ingest_dir_errors_total", "Drop-directory files that failed (retried).", func() float64 {
		if b.watcher == nil {
			return 0
		}
		return float64(b.watcher.Stats.Errors.Load())
	})
	counter("ingest_malformed_total", "Malformed cloud records skipped at ingestion (drop directories and push).", func() float64 {
		b.pushMu.Lock()
		n := b.pushed.Malformed
		b.pushMu.Unlock()
		if b.watcher != nil {
			n += int(b.watcher.Stats.Malformed.Load())
		}
		return float64(n)
	})
	// Per output, labelled by its name and type.
	for _, d := range b.routing.dispatchers {
		labels := prometheus.Labels{"output": d.Name, "type": d.Type}
		for _, c := range []struct {
			name, help string
			v          func(*route.Snapshot) uint64
		}{
			{"output_sent_total", "Notifications the output's receiver accepted.", func(s *route.Snapshot) uint64 { return s.Sent }},
			{"output_failures_total", "Deliveries that failed and are retried with backoff.", func(s *route.Snapshot) uint64 { return s.Failed }},
			{"output_dead_lettered_total", "Notifications the receiver refused for good (4xx), kept in the dead-letter stream.", func(s *route.Snapshot) uint64 { return s.DeadLettered }},
			{"output_deferred_total", "Threat updates held for the quiet period (sent later as one).", func(s *route.Snapshot) uint64 { return s.Deferred }},
			{"output_rate_limited_total", "Notifications held by a route's rate limit (sent later).", func(s *route.Snapshot) uint64 { return s.RateLimited }},
			{"output_malformed_total", "Messages the output could not decode (acked, counted).", func(s *route.Snapshot) uint64 { return s.Malformed }},
			{"output_state_errors_total", "Failed reads or writes of what was sent to the output.", func(s *route.Snapshot) uint64 { return s.StateErrors }},
		} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vigil_backend_" + c.name, Help: c.help, ConstLabels: labels},
				func() float64 { s := d.Snapshot(); return float64(c.v(&s)) }))
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_backend_output_healthy", ConstLabels: labels,
			Help: "1 when the output's last delivery succeeded (or none failed)."}, func() float64 {
			if d.Snapshot().Healthy {
				return 1
			}
			return 0
		}))
	}
	gauge("dead_letters", "Dead letters read from the dead-letter stream since this instance started.", func() float64 {
		return float64(b.routing.dead.count())
	})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
