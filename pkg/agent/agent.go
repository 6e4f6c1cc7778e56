package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/pkg/engine"
	"github.com/vigil-sec/vigil/pkg/rules"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/pipeline"
	"github.com/vigil-sec/vigil/pkg/proc"
	"github.com/vigil-sec/vigil/pkg/sensor"
	"github.com/vigil-sec/vigil/pkg/status"
	"github.com/vigil-sec/vigil/pkg/version"
)

// Agent runs the sensor and its pipeline.
type Agent struct {
	cfg    config.Agent
	log    *zap.Logger
	stdout io.Writer

	// Extra sinks receive every event (tests and later outputs use this).
	Extra []pipeline.Sink
	// AlertSinks receive every alert.
	AlertSinks []engine.Sink
	// Ready is called once the probes are attached and events flow.
	Ready func()

	started time.Time
	sensor  *sensor.Sensor
	tree    *proc.Tree
	stats   pipeline.Stats
	engine  *engine.Engine
	deliv   *delivery
	hostID  string
	types   map[event.Type]bool
	reloads atomic.Uint64

	rateMu   sync.Mutex
	lastRecv uint64
	lastAt   time.Time
	lastCPU  float64
	rate     float64
	cpuPct   float64
}

// New makes an agent; stdout receives JSON lines when cfg.Output is "stdout".
func New(cfg config.Agent, log *zap.Logger, stdout io.Writer) *Agent {
	return &Agent{cfg: cfg, log: log.With(zap.String("component", "agent")), stdout: stdout}
}

// BootClock returns the wall-clock time at which CLOCK_BOOTTIME was zero.
func BootClock() (event.Clock, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return event.Clock{}, fmt.Errorf("read boot clock: %w", err)
	}
	return event.Clock{Boot: time.Now().Add(-time.Duration(ts.Nano()))}, nil
}

// Run starts everything and blocks until ctx ends (SIGTERM) or a fatal
// error. Everything is detached before it returns.
func (a *Agent) Run(ctx context.Context) error {
	a.started = time.Now()
	if _, err := sensor.EnsureMounted(sensor.BPFFS); err != nil {
		a.log.Warn("bpffs not mounted", zap.Error(err))
	}
	a.tree = proc.NewTree(proc.TreeConfig{
		Root:         a.cfg.HostRoot,
		MaxProcesses: a.cfg.ProcessTree.MaxProcesses,
		ExitGrace:    a.cfg.ProcessTree.ExitGrace,
		MaxAncestors: a.cfg.ProcessTree.MaxAncestors,
	})
	n, err := a.tree.Seed()
	if err != nil {
		return fmt.Errorf("seed process tree: %w", err)
	}
	a.log.Info("process tree seeded", zap.Int("processes", n))

	rs, err := rules.LoadAndCompile(a.ruleSources())
	if err != nil {
		return fmt.Errorf("rules:\n%w", err)
	}
	a.log.Info("rules loaded", zap.Int("rules", len(rs.Rules)), zap.Int("disabled", rs.Disabled), zap.String("version", rs.Version))
	types := a.cfg.EventTypes(rs.Types)
	a.types = map[event.Type]bool{}
	for _, t := range types {
		a.types[t] = true
	}
	s, err := sensor.New(sensor.Config{
		Types:                types,
		WatchedPrefixes:      append(append([]string(nil), a.cfg.WatchedPrefixes...), rs.WatchedPrefixes...),
		WriteWatchedPrefixes: rs.WriteWatchedPrefixes,
		NoisyPrefixes:        a.cfg.NoisyPrefixes,
		RingBufferBytes:      a.cfg.RingBufferBytes,
		DropFailed:           a.cfg.DropFailed,
	}, a.log)
	if err != nil {
		return err
	}
	a.sensor = s
	defer s.Close()
	attached := 0
	for _, p := range s.Programs() {
		if p.Attached {
			attached++
		}
	}
	a.log.Info("probes attached", zap.Int("programs", attached), zap.Int("skipped", len(s.Programs())-attached))

	clk, err := BootClock()
	if err != nil {
		return err
	}
	recs, err := s.Start(4096)
	if err != nil {
		return err
	}
	pctx, stop := context.WithCancel(context.Background())
	defer stop()
	queue := pipeline.Pump(pctx, recs, a.cfg.QueueSize, &a.stats)
	sinks := append([]pipeline.Sink(nil), a.Extra...)
	var out *pipeline.JSONLines
	if a.cfg.Output == "stdout" || a.cfg.Alerts == "stdout" {
		out = pipeline.NewJSONLines(a.stdout)
	}
	if a.cfg.Output == "stdout" {
		sinks = append(sinks, out)
	}
	alertSinks := append([]engine.Sink(nil), a.AlertSinks...)
	if a.cfg.Alerts == "stdout" {
		alertSinks = append(alertSinks, alertJSON{out})
	}
	info := a.describeHost(ctx)
	a.hostID = info.ID
	if a.cfg.NATS.URL != "" {
		d, err := a.startDelivery(pctx, info)
		if err != nil {
			return fmt.Errorf("alert delivery: %w", err)
		}
		a.deliv = d
		defer d.close()
		alertSinks = append(alertSinks, d)
		sinks = append(sinks, d)
	}
	a.engine = engine.New(engine.Config{
		Host:        rules.Host{Name: info.Hostname, AgentPID: int64(os.Getpid()), ID: info.ID, Env: a.cfg.Env, Info: &info},
		MonitorOnly: a.cfg.Rules.MonitorOnly,
		Protect:     a.cfg.Rules.Protect,
		AgentPID:    os.Getpid(),
		DedupWindow: a.cfg.Rules.DedupWindow,
	}, rs, nil, alertSinks...)
	sinks = append(sinks, a.engine)
	if out != nil && a.cfg.Output != "stdout" {
		sinks = append(sinks, flushOnly{out})
	}
	errc := pipeline.Consume(queue, clk, a.tree, self(), &a.stats, sinks...)

	if a.cfg.StatusSocket != "" {
		if err := status.Serve(ctx, a.cfg.StatusSocket, a.Snapshot, a.log); err != nil {
			return err
		}
	}
	if a.cfg.MetricsAddress != "" {
		if err := status.ServeMetrics(ctx, a.cfg.MetricsAddress, a.Snapshot, a.log); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	a.notifyReady(pctx)
	if a.Ready != nil {
		a.Ready()
	}

	gc := time.NewTicker(5 * time.Second)
	defer gc.Stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			a.Reload()
		case <-ctx.Done():
			a.log.Info("stopping")
			a.notifyStopping()
			s.Close() // detach; closes the record channel, which drains the pipeline
			for err := range errc {
				a.log.Warn("output failed", zap.Error(err))
			}
			return nil
		case err, ok := <-errc:
			if !ok {
				return errors.New("event pipeline stopped")
			}
			a.log.Error("output failed", zap.Error(err))
		case <-gc.C:
			a.tree.GC()
			a.sample()
		}
	}
}

// sample updates the rate and CPU% from the last sample.
func (a *Agent) sample() {
	a.rateMu.Lock()
	defer a.rateMu.Unlock()
	now := time.Now()
	var recv uint64
	for i := range a.stats.Received {
		recv += a.stats.Received[i].Load()
	}
	cpu := status.SelfCPUSeconds()
	if !a.lastAt.IsZero() {
		dt := now.Sub(a.lastAt).Seconds()
		if dt > 0 {
			a.rate = float64(recv-a.lastRecv) / dt
			a.cpuPct = 100 * (cpu - a.lastCPU) / dt
		}
	}
	a.lastRecv, a.lastAt, a.lastCPU = recv, now, cpu
}

// Snapshot is the agent's current status.
func (a *Agent) Snapshot() status.Snapshot {
	s := status.Snapshot{
		Version:       version.Version,
		PID:           os.Getpid(),
		StartedAt:     a.started,
		UptimeSeconds: time.Since(a.started).Seconds(),
		DecodeErrors:  a.stats.DecodeErrors.Load(),
		Emitted:       a.stats.Emitted.Load(),
		CPUSeconds:    status.SelfCPUSeconds(),
		RSSBytes:      status.SelfRSS(),
	}
	a.rateMu.Lock()
	s.EventsPerSecond, s.CPUPercent = a.rate, a.cpuPct
	a.rateMu.Unlock()
	if a.tree != nil {
		s.Processes = a.tree.Len()
	}
	used, capacity := a.stats.QueueDepth()
	s.Queue = status.Usage{Used: uint64(used), Capacity: uint64(capacity)}
	var kc sensor.Counters
	if a.sensor != nil {
		kc, _ = a.sensor.Counters()
		s.RingBuffer = status.Usage{Used: a.sensor.RingBufferUsed(), Capacity: uint64(a.sensor.RingBufferBytes())}
		for _, p := range a.sensor.Programs() {
			if p.Attached {
				s.Programs.Attached++
			} else {
				s.Programs.Skipped++
				s.Skipped = append(s.Skipped, status.SkippedProbe{Name: p.Name, Reason: p.Error})
			}
		}
	}
	s.HostID = a.hostID
	if a.deliv != nil {
		s.Transport = a.deliv.stats()
	}
	if a.engine != nil {
		st := &a.engine.Stats
		s.Rules = status.RuleStats{
			Count: len(a.engine.Ruleset().Rules), Version: a.engine.Ruleset().Version, Reloads: a.reloads.Load(),
			Evaluated: st.Evaluated.Load(), Alerts: st.Alerts.Load(), Suppressed: st.Suppressed.Load(),
			EvalErrors: st.EvalErrors.Load(), Kills: st.Kills.Load(),
		}
	}
	for _, t := range event.AllTypes() {
		tc := status.TypeCounters{
			Type:        t.String(),
			Received:    a.stats.Received[t].Load(),
			Filtered:    kc.Filtered[t],
			KernelDrops: kc.Drops[t],
			QueueDrops:  a.stats.QueueDrops[t].Load(),
		}
		s.Totals.Received += tc.Received
		s.Totals.Filtered += tc.Filtered
		s.Totals.KernelDrops += tc.KernelDrops
		s.Totals.QueueDrops += tc.QueueDrops
		s.Types = append(s.Types, tc)
	}
	return s
}
