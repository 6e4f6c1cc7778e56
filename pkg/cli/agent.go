package cli

import (
	"io"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/agent"
	"github.com/vigil-sec/vigil/pkg/config"
)

func newAgentCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		path       string
		cpuProfile string
		flagCfg    = config.Default()
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the sensor: attach the probes and stream events",
		Long: "Run the sensor. It attaches the BPF probes the configuration needs and streams\n" +
			"events (one JSON object per line with --output stdout) until SIGTERM.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			if err := cfg.ApplyEnv(os.Environ()); err != nil {
				return err
			}
			// Flags override the file.
			fl := cmd.Flags()
			for flag, apply := range map[string]func(){
				"output":          func() { cfg.Output = flagCfg.Output },
				"events":          func() { cfg.Events = flagCfg.Events },
				"watch":           func() { cfg.WatchedPrefixes = append(cfg.WatchedPrefixes, flagCfg.WatchedPrefixes...) },
				"log-level":       func() { cfg.LogLevel = flagCfg.LogLevel },
				"status-socket":   func() { cfg.StatusSocket = flagCfg.StatusSocket },
				"metrics-address": func() { cfg.MetricsAddress = flagCfg.MetricsAddress },
				"host-root":       func() { cfg.HostRoot = flagCfg.HostRoot },
				"collect":         func() { cfg.Collect = flagCfg.Collect },
				"alerts":          func() { cfg.Alerts = flagCfg.Alerts },
				"rules":           func() { cfg.Rules.Paths = flagCfg.Rules.Paths },
				"monitor-only":    func() { cfg.Rules.MonitorOnly = flagCfg.Rules.MonitorOnly },
				"nats-url":        func() { cfg.NATS.URL = flagCfg.NATS.URL },
				"nats-creds":      func() { cfg.NATS.Creds = flagCfg.NATS.Creds },
				"nats-nkey":       func() { cfg.NATS.NKey = flagCfg.NATS.NKey },
				"nats-ca":         func() { cfg.NATS.CA = flagCfg.NATS.CA },
				"env":             func() { cfg.Env = flagCfg.Env },
				"spool-dir":       func() { cfg.Spool.Dir = flagCfg.Spool.Dir },
				"telemetry":       func() { cfg.Telemetry = flagCfg.Telemetry },
				"state-dir":       func() { cfg.StateDir = flagCfg.StateDir },
			} {
				if fl.Changed(flag) {
					apply()
				}
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			log, err := newLogger(cfg.LogLevel, stderr)
			if err != nil {
				return err
			}
			defer log.Sync()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return agent.New(cfg, log, stdout).Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&path, "config", "c", config.DefaultPath, "configuration file")
	f.StringVar(&flagCfg.Output, "output", "stdout", "where events go: stdout or none")
	f.StringSliceVar(&flagCfg.Events, "events", nil, "event types to collect (default all)")
	flagCfg.WatchedPrefixes = nil
	f.StringSliceVar(&flagCfg.WatchedPrefixes, "watch", nil, "more path prefixes whose read-opens are reported")
	f.StringVar(&flagCfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&flagCfg.StatusSocket, "status-socket", flagCfg.StatusSocket, "unix socket for `vigil status`")
	f.StringVar(&flagCfg.MetricsAddress, "metrics-address", "", "serve Prometheus metrics on this loopback address")
	f.StringVar(&flagCfg.HostRoot, "host-root", "/", "root of the host's /proc and /etc")
	f.StringVar(&flagCfg.Collect, "collect", "rules", "rules: only what the rules need; all: every event type")
	f.StringVar(&flagCfg.Alerts, "alerts", "stdout", "where alerts go: stdout or none")
	f.StringSliceVar(&flagCfg.Rules.Paths, "rules", nil, "rule files or directories loaded after the vendor rules")
	f.BoolVar(&flagCfg.Rules.MonitorOnly, "monitor-only", false, "never kill: kill rules only alert")
	f.StringVar(&flagCfg.NATS.URL, "nats-url", "", "NATS server for alerts and heartbeats (nats://host:4222)")
	f.StringVar(&flagCfg.NATS.Creds, "nats-creds", "", "NATS .creds file (mode 0600)")
	f.StringVar(&flagCfg.NATS.NKey, "nats-nkey", "", "NATS NKey seed file (mode 0600)")
	f.StringVar(&flagCfg.NATS.CA, "nats-ca", "", "CA bundle for the NATS server's TLS certificate")
	f.StringVar(&flagCfg.Env, "env", "default", "environment name in subjects and alerts")
	f.StringVar(&flagCfg.Spool.Dir, "spool-dir", "", "durable outbox directory (default state_dir/spool)")
	f.StringVar(&flagCfg.StateDir, "state-dir", "/var/lib/vigil", "state directory (host id, spool)")
	f.StringVar(&flagCfg.Telemetry, "telemetry", "alerts", "what goes to NATS: alerts, context or full")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile to this file (debugging)")
	_ = f.MarkHidden("cpuprofile")
	return cmd
}
