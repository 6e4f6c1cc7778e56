package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/pkg/engine"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/host"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/console"
	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/pipeline"
	"github.com/vigil-sec/vigil/pkg/proc"
	"github.com/vigil-sec/vigil/pkg/response"
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
	// ExtraRules are loaded after the vendor rules and before the
	// configured paths, at start and at every reload (`vigil run` adds the
	// simulator's metadata address this way).
	ExtraRules []rules.Inline

	started time.Time
	sensor  *sensor.Sensor
	tree    *proc.Tree
	stats   pipeline.Stats
	engine  *engine.Engine
	deliv   *delivery
	hostID  string
	types   map[event.Type]bool
	reloads atomic.Uint64
	// reloadMu serializes reloads (SIGHUP, a pushed bundle).
	reloadMu sync.Mutex
	// bundle is the pushed rule bundle running (nil: none).
	bundle  atomic.Pointer[rules.Bundle]
	bundles bundleState
	health  *health
	recent  recentAlerts
	// Color says whether text output is coloured (the CLI decides from
	// the terminal and the color key).
	Color bool

	rateMu   sync.Mutex
	lastRecv uint64
	lastAt   time.Time
	lastCPU  float64
	rate     float64
	cpuPct   float64
	// lastOutErr rate-limits event output failure logs.
	lastOutErr time.Time
}

// New makes an agent; stdout receives JSON lines when cfg.Output is "stdout".
func New(cfg config.Agent, log *zap.Logger, stdout io.Writer) *Agent {
	return &Agent{cfg: cfg, log: log.Named("agent"), stdout: stdout}
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
	// The status socket first: a second agent on this host stops here,
	// before it loads anything (it would double every alert). It is served
	// once the probes are attached (its presence means events flow).
	if a.cfg.StatusSocket != "" {
		if err := status.Claim(a.cfg.StatusSocket); err != nil {
			return err
		}
	}
	if _, err := sensor.EnsureMounted(sensor.BPFFS); err != nil {
		a.log.Warn("bpffs not mounted", zap.Error(err))
	}
	a.tree = proc.NewTree(proc.TreeConfig{
		Root:         a.cfg.HostRoot,
		MaxProcesses: a.cfg.ProcessTree.MaxProcesses,
		ExitGrace:    a.cfg.ProcessTree.ExitGrace,
		MaxAncestors: a.cfg.ProcessTree.MaxAncestors,
		OCIBundles:   a.cfg.ProcessTree.OCIBundles,
	})
	n, err := a.tree.Seed()
	if err != nil {
		return fmt.Errorf("seed process tree: %w", err)
	}
	a.log.Info("process tree seeded", zap.Int("processes", n))

	if a.cfg.NATS.CentralRules() {
		a.loadCachedBundle()
	}
	rs, err := host.LoadAndCompile(a.ruleSources())
	if err != nil {
		return fmt.Errorf("rules:\n%w", err)
	}
	filters, err := KernelFilters(a.cfg, rs)
	if err != nil {
		return err
	}
	a.log.Info("rules loaded", zap.Int("rules", len(rs.Rules)), zap.Int("disabled", rs.Disabled), zap.String("version", rs.Version))
	types := a.cfg.EventTypes(rs.Types)
	a.types = map[event.Type]bool{}
	for _, t := range types {
		a.types[t] = true
	}
	s, err := sensor.New(sensor.Config{
		Types:                types,
		WatchedPrefixes:      filters.Watched,
		WriteWatchedPrefixes: filters.WriteWatched,
		NoisyPrefixes:        a.cfg.NoisyPrefixes,
		RingBufferBytes:      a.cfg.RingBufferBytes,
		DropFailed:           a.cfg.DropFailed,
		DrainInterval:        a.cfg.EventDelay,
	}, a.log.Named("sensor"))
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
	queue := pipeline.NewQueue(a.cfg.QueueSize, &a.stats)
	if err := s.Start(queue.Push, queue.Close); err != nil {
		return err
	}
	pctx, stop := context.WithCancel(context.Background())
	defer stop()
	sinks := append([]pipeline.Sink(nil), a.Extra...)
	alertSinks := append([]engine.Sink(nil), a.AlertSinks...)
	alertSinks = append(alertSinks, &a.recent)
	if format, alerts, events := a.cfg.Stdout(); alerts || events {
		out := console.New(a.stdout, console.Options{Format: format, Color: a.Color, Alerts: alerts, Events: events})
		sinks = append(sinks, out)
		alertSinks = append(alertSinks, out)
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
	a.health = newHealth(a.log.Named("health"), min(10*time.Second, a.cfg.DegradedAlertInterval), a.cfg.DegradedAlertInterval,
		a.Snapshot, func(al *engine.Alert) { a.engine.Emit(al) })
	a.engine = engine.New(engine.Config{
		Host:        host.Host{Name: info.Hostname, AgentPID: int64(os.Getpid()), AgentExe: agentExe(), ID: info.ID, Env: a.cfg.Env, Info: &info},
		MonitorOnly: a.cfg.Rules.MonitorOnly,
		Protect:     a.cfg.Rules.Protect,
		AgentPID:    os.Getpid(),
		DedupWindow: a.cfg.Rules.DedupWindow,
		OnSinkError: a.health.sinkError,
	}, rs, response.ProcKiller{Root: a.cfg.HostRoot}, alertSinks...)
	sinks = append(sinks, a.engine)
	if a.deliv != nil && a.cfg.NATS.CentralRules() {
		go a.watchBundle(pctx, a.deliv)
	}
	drainStop := make(chan struct{})
	errc := pipeline.Consume(queue.Records(), drainStop, clk, a.tree, self(), &a.stats, sinks...)
	healthStop := make(chan struct{})
	defer close(healthStop)
	go a.health.run(healthStop)

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
	// Loading the probes, compiling the rules and reading /proc leave
	// garbage the idle agent does not need resident, and touch code and
	// data of the binary it will not run again: hand both back now.
	debug.FreeOSMemory()
	status.PageOutExecutable()

	gc := time.NewTicker(5 * time.Second)
	defer gc.Stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			_ = a.Reload()       // logs its errors; the running rules stay
			debug.FreeOSMemory() // the old rule set, compiled again
			status.PageOutExecutable()
		case <-ctx.Done():
			a.log.Info("stopping")
			a.notifyStopping()
			s.Close() // detach; closes the queue, which drains the pipeline
			// Drain what is queued, within the shutdown timeout; alerts
			// already raised are in the spool either way. A consumer stuck
			// on an output (a stdout nobody reads) gets one more second.
			drained := make(chan struct{})
			go func() {
				for err := range errc {
					a.outputFailed(err)
				}
				close(drained)
			}()
			deadline := time.NewTimer(a.cfg.ShutdownTimeout)
			defer deadline.Stop()
			select {
			case <-drained:
			case <-deadline.C:
				close(drainStop)
				select {
				case <-drained:
				case <-time.After(time.Second):
					a.log.Warn("shutdown: an output is stuck; stopping without it")
				}
				a.log.Warn("shutdown timeout: queued events not evaluated",
					zap.Uint64("discarded", a.stats.ShutdownDiscarded.Load()), zap.Duration("timeout", a.cfg.ShutdownTimeout))
			}
			return nil
		case err, ok := <-errc:
			if !ok {
				return errors.New("event pipeline stopped")
			}
			a.outputFailed(err)
		case <-gc.C:
			a.tree.GC()
			a.sample()
		}
	}
}

// agentExe is the agent's own executable, as exec events name it.
func agentExe() string {
	p, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return ""
	}
	return p
}

// outputFailed logs a failed event write, at most once per 10 s (each is
// counted in the pipeline's SinkErrors and the health counters).
func (a *Agent) outputFailed(err error) {
	a.rateMu.Lock()
	defer a.rateMu.Unlock()
	if now := time.Now(); now.Sub(a.lastOutErr) >= 10*time.Second {
		a.lastOutErr = now
		a.log.Error("event output failed", zap.Uint64("failures", a.stats.SinkErrors.Load()), zap.Error(err))
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
		s.Health.EventWriteFailures = a.deliv.eventFailures.Load()
	}
	s.Health.ShutdownDiscarded = a.stats.ShutdownDiscarded.Load()
	s.Health.SelfDrops = a.stats.SelfDrops.Load()
	if a.health != nil {
		s.Health.Degraded = a.health.degraded.Load()
		s.Health.DegradedAlerts = a.health.alerts.Load()
	}
	s.RecentAlerts = a.recent.list()
	if a.engine != nil {
		for _, f := range a.engine.SinkFailures() {
			sf := status.SinkFailures{Sink: f.Sink, BySeverity: map[string]uint64{}}
			for sev, n := range f.BySeverity {
				if n > 0 {
					sf.BySeverity[rules.Severity(sev).String()] = n
				}
			}
			if len(sf.BySeverity) > 0 {
				s.Health.AlertWriteFailures = append(s.Health.AlertWriteFailures, sf)
			}
		}
		st := &a.engine.Stats
		s.Rules = status.RuleStats{
			Count: len(a.engine.Ruleset().Rules), Version: a.engine.Ruleset().Version, Reloads: a.reloads.Load(),
			Evaluated: st.Evaluated.Load(), Alerts: st.Alerts.Load(), Suppressed: st.Suppressed.Load(),
			EvalErrors: st.EvalErrors.Load(), Kills: st.Kills.Load(), Bundle: a.bundles.get(),
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
