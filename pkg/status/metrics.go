package status

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

type collector struct {
	src                                                             Source
	received, filtered, kdrops, qdrops                              *prometheus.Desc
	decodeErr, emitted, queue, queueCap, ring, ringCap              *prometheus.Desc
	cpu, rss, procs, attached, skipped                              *prometheus.Desc
	sinkFail, eventFail, spoolDrop, spoolFull, spoolRecs, spoolFree *prometheus.Desc
	degraded, degradedAlerts, shutdownDiscarded, alerts, connected  *prometheus.Desc
}

func newCollector(src Source) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("vigil_agent_"+name, help, labels, nil)
	}
	return &collector{
		src:               src,
		received:          d("events_received_total", "Records read from the ring buffer.", "type"),
		filtered:          d("events_filtered_total", "Events the kernel decided not to send.", "type"),
		kdrops:            d("ring_buffer_drops_total", "Ring buffer reserve failures.", "type"),
		qdrops:            d("queue_drops_total", "Records dropped because the queue was full.", "type"),
		decodeErr:         d("decode_errors_total", "Records that failed to decode."),
		emitted:           d("events_emitted_total", "Events handed to the outputs."),
		queue:             d("queue_depth", "Records waiting in the queue."),
		queueCap:          d("queue_capacity", "Capacity of the queue."),
		ring:              d("ring_buffer_used_bytes", "Bytes written to the ring buffer and not yet read."),
		ringCap:           d("ring_buffer_size_bytes", "Size of the ring buffer."),
		cpu:               d("cpu_seconds_total", "CPU time used by the agent."),
		rss:               d("resident_memory_bytes", "Resident memory of the agent."),
		procs:             d("process_tree_size", "Processes in the process tree."),
		attached:          d("programs_attached", "BPF programs attached."),
		skipped:           d("programs_skipped", "BPF programs the kernel refused."),
		sinkFail:          d("alert_write_failures_total", "Alerts an output failed to write.", "sink", "severity"),
		eventFail:         d("event_write_failures_total", "Events the delivery could not spool."),
		spoolDrop:         d("spool_dropped_total", "Records shed or refused by the spool (budget or full disk).", "severity"),
		spoolFull:         d("spool_disk_full", "1 while appends find the spool's filesystem full."),
		spoolRecs:         d("spool_records", "Records waiting in the spool."),
		spoolFree:         d("spool_fs_free_bytes", "Free space on the spool's filesystem."),
		degraded:          d("degraded", "1 while the agent is losing data."),
		degradedAlerts:    d("degraded_alerts_total", "Sensor degraded alerts raised."),
		shutdownDiscarded: d("shutdown_discarded_total", "Queued records not evaluated because shutdown ran out of time."),
		alerts:            d("alerts_total", "Alerts raised."),
		connected:         d("nats_connected", "1 while connected to NATS."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.received, c.filtered, c.kdrops, c.qdrops, c.decodeErr, c.emitted,
		c.queue, c.queueCap, c.ring, c.ringCap, c.cpu, c.rss, c.procs, c.attached, c.skipped,
		c.sinkFail, c.eventFail, c.spoolDrop, c.spoolFull, c.spoolRecs, c.spoolFree, c.degraded, c.degradedAlerts,
		c.shutdownDiscarded, c.alerts, c.connected} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src()
	for _, t := range s.Types {
		ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(t.Received), t.Type)
		ch <- prometheus.MustNewConstMetric(c.filtered, prometheus.CounterValue, float64(t.Filtered), t.Type)
		ch <- prometheus.MustNewConstMetric(c.kdrops, prometheus.CounterValue, float64(t.KernelDrops), t.Type)
		ch <- prometheus.MustNewConstMetric(c.qdrops, prometheus.CounterValue, float64(t.QueueDrops), t.Type)
	}
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	ch <- prometheus.MustNewConstMetric(c.decodeErr, prometheus.CounterValue, float64(s.DecodeErrors))
	ch <- prometheus.MustNewConstMetric(c.emitted, prometheus.CounterValue, float64(s.Emitted))
	ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, s.CPUSeconds)
	g(c.queue, float64(s.Queue.Used))
	g(c.queueCap, float64(s.Queue.Capacity))
	g(c.ring, float64(s.RingBuffer.Used))
	g(c.ringCap, float64(s.RingBuffer.Capacity))
	g(c.rss, float64(s.RSSBytes))
	g(c.procs, float64(s.Processes))
	g(c.attached, float64(s.Programs.Attached))
	g(c.skipped, float64(s.Programs.Skipped))
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, f := range s.Health.AlertWriteFailures {
		for sev, n := range f.BySeverity {
			counter(c.sinkFail, n, f.Sink, sev)
		}
	}
	counter(c.eventFail, s.Health.EventWriteFailures)
	counter(c.degradedAlerts, s.Health.DegradedAlerts)
	counter(c.shutdownDiscarded, s.Health.ShutdownDiscarded)
	counter(c.alerts, s.Rules.Alerts)
	g(c.degraded, b(s.Health.Degraded))
	if t := s.Transport; t != nil {
		g(c.connected, b(t.Connected))
		if sp := t.Spool; sp != nil {
			for i, n := range sp.Dropped {
				counter(c.spoolDrop, n, SpoolSeverityNames[i])
			}
			g(c.spoolFull, b(sp.DiskFull))
			g(c.spoolRecs, float64(sp.Records))
			g(c.spoolFree, float64(sp.FreeBytes))
		}
	}
}

// ServeMetrics exposes the snapshot as Prometheus metrics on addr (loopback,
// checked by config) at /metrics until ctx ends.
func ServeMetrics(ctx context.Context, addr string, src Source, log *zap.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(src))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", zap.Error(err))
		}
	}()
	return nil
}
