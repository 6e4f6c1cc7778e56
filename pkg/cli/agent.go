package cli

import (
	"io"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/vigil-sec/vigil/pkg/agent"
	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/sensor"
)

// agentFlags hold what `vigil agent`'s flags were given.
type agentFlags struct {
	path, cpuProfile string
	cfg              config.Agent
}

func newAgentCmd(stdout, stderr io.Writer) *cobra.Command {
	return newAgentCmdWith(stdout, stderr, &agentFlags{cfg: config.Default()})
}

func newAgentCmdWith(stdout, stderr io.Writer, af *agentFlags) *cobra.Command {
	path, cpuProfile, flagCfg := &af.path, &af.cpuProfile, &af.cfg
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the sensor: attach the probes and stream events",
		Long: "Run the sensor. It attaches the BPF probes the configuration needs and prints\n" +
			"one line per alert (--output text; json for JSON lines, --print-events for every\n" +
			"event) until SIGTERM.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := agentConfig(cmd.Flags(), *path, flagCfg, os.Environ())
			if err != nil {
				return err
			}
			log, err := newLogger(cfg.LogLevel, stderr)
			if err != nil {
				return err
			}
			defer log.Sync()
			if err := sensor.CanLoad(); err != nil {
				return err
			}
			if *cpuProfile != "" {
				f, err := os.Create(*cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			a := agent.New(cfg, log, stdout)
			a.Color = useColor(cfg.Color, stdout)
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVarP(path, "config", "c", config.DefaultPath, "configuration file")
	def := config.Default()
	f.StringVar(&flagCfg.Output, "output", def.Output, "what stdout shows: text (a line per alert), json, none, or stdout (JSON alerts and every event)")
	f.BoolVar(&flagCfg.PrintEvents, "print-events", false, "also print every event (text or json output)")
	f.StringVar(&flagCfg.Color, "color", def.Color, "colour the text output: auto, always or never")
	f.StringSliceVar(&flagCfg.Events, "events", nil, "event types to collect (default all)")
	flagCfg.WatchedPrefixes = nil
	f.StringSliceVar(&flagCfg.WatchedPrefixes, "watch", nil, "more path prefixes whose read-opens are reported")
	f.StringVar(&flagCfg.LogLevel, "log-level", def.LogLevel, "debug, info, warn or error")
	f.StringVar(&flagCfg.StatusSocket, "status-socket", flagCfg.StatusSocket, "unix socket for `vigil status`")
	f.StringVar(&flagCfg.MetricsAddress, "metrics-address", "", "serve Prometheus metrics on this loopback address")
	f.StringVar(&flagCfg.HostRoot, "host-root", def.HostRoot, "root of the host's /proc and /etc")
	f.StringVar(&flagCfg.Collect, "collect", def.Collect, "rules: only what the rules need; all: every event type")
	f.StringVar(&flagCfg.Alerts, "alerts", def.Alerts, "print alerts on stdout (stdout) or not (none)")
	f.StringSliceVar(&flagCfg.Rules.Paths, "rules", nil, "rule files or directories loaded after the vendor rules")
	f.BoolVar(&flagCfg.Rules.MonitorOnly, "monitor-only", false, "never kill: kill rules only alert")
	f.StringVar(&flagCfg.NATS.URL, "nats-url", "", "NATS server for alerts and heartbeats (nats://host:4222)")
	f.StringVar(&flagCfg.NATS.Creds, "nats-creds", "", "NATS .creds file (mode 0600)")
	f.StringVar(&flagCfg.NATS.NKey, "nats-nkey", "", "NATS NKey seed file (mode 0600)")
	f.StringVar(&flagCfg.NATS.CA, "nats-ca", "", "CA bundle for the NATS server's TLS certificate")
	f.StringVar(&flagCfg.Env, "env", def.Env, "environment name in subjects and alerts")
	f.StringVar(&flagCfg.Spool.Dir, "spool-dir", "", "durable outbox directory (default state_dir/spool)")
	f.StringVar(&flagCfg.StateDir, "state-dir", def.StateDir, "state directory (host id, spool)")
	f.StringVar(&flagCfg.Telemetry, "telemetry", def.Telemetry, "what goes to NATS: alerts, context or full")
	f.StringVar(cpuProfile, "cpuprofile", "", "write a Go CPU profile to this file (debugging)")
	_ = f.MarkHidden("cpuprofile")
	completeValues(cmd, map[string][]string{
		"output": {"text", "json", "none", "stdout"}, "color": {"auto", "always", "never"},
		"log-level": {"debug", "info", "warn", "error"}, "collect": {"rules", "all"}, "alerts": {"stdout", "none"},
		"telemetry": {"alerts", "context", "full"}, "events": eventTypeNames(),
	})
	for _, fl := range []string{"config", "nats-creds", "nats-nkey", "nats-ca"} {
		_ = cmd.MarkFlagFilename(fl)
	}
	for _, fl := range []string{"spool-dir", "state-dir", "host-root", "rules"} {
		_ = cmd.MarkFlagDirname(fl)
	}
	return cmd
}

// completeValues gives shell completion the values of enumerated flags.
func completeValues(cmd *cobra.Command, values map[string][]string) {
	for flag, vs := range values {
		vs := vs
		_ = cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return vs, cobra.ShellCompDirectiveNoFileComp
		})
	}
}

func eventTypeNames() []string {
	var out []string
	for _, t := range event.AllTypes() {
		out = append(out, t.String())
	}
	return out
}

// useColor decides the text output's colours: always, never, or (auto)
// when stdout is a terminal and NO_COLOR is not set.
func useColor(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// agentConfig is the configuration the agent runs with: the file, then the
// VIGIL_* environment, then the flags that were given; an invalid value
// names the variable or flag that set it.
func agentConfig(fl *pflag.FlagSet, path string, flagCfg *config.Agent, environ []string) (config.Agent, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, err
	}
	if err := cfg.ApplyEnv(environ); err != nil {
		return cfg, err
	}
	// Flags override the file; an invalid value names the flag.
	set := map[string]string{}
	for flag, o := range map[string]struct {
		key   string
		apply func()
	}{
		"output":          {"output", func() { cfg.Output = flagCfg.Output }},
		"print-events":    {"print_events", func() { cfg.PrintEvents = flagCfg.PrintEvents }},
		"color":           {"color", func() { cfg.Color = flagCfg.Color }},
		"events":          {"events", func() { cfg.Events = flagCfg.Events }},
		"watch":           {"watched_prefixes", func() { cfg.WatchedPrefixes = append(cfg.WatchedPrefixes, flagCfg.WatchedPrefixes...) }},
		"log-level":       {"log_level", func() { cfg.LogLevel = flagCfg.LogLevel }},
		"status-socket":   {"status_socket", func() { cfg.StatusSocket = flagCfg.StatusSocket }},
		"metrics-address": {"metrics_address", func() { cfg.MetricsAddress = flagCfg.MetricsAddress }},
		"host-root":       {"host_root", func() { cfg.HostRoot = flagCfg.HostRoot }},
		"collect":         {"collect", func() { cfg.Collect = flagCfg.Collect }},
		"alerts":          {"alerts", func() { cfg.Alerts = flagCfg.Alerts }},
		"rules":           {"rules.paths", func() { cfg.Rules.Paths = flagCfg.Rules.Paths }},
		"monitor-only":    {"rules.monitor_only", func() { cfg.Rules.MonitorOnly = flagCfg.Rules.MonitorOnly }},
		"nats-url":        {"nats.url", func() { cfg.NATS.URL = flagCfg.NATS.URL }},
		"nats-creds":      {"nats.creds", func() { cfg.NATS.Creds = flagCfg.NATS.Creds }},
		"nats-nkey":       {"nats.nkey", func() { cfg.NATS.NKey = flagCfg.NATS.NKey }},
		"nats-ca":         {"nats.ca", func() { cfg.NATS.CA = flagCfg.NATS.CA }},
		"env":             {"env", func() { cfg.Env = flagCfg.Env }},
		"spool-dir":       {"spool.dir", func() { cfg.Spool.Dir = flagCfg.Spool.Dir }},
		"telemetry":       {"telemetry", func() { cfg.Telemetry = flagCfg.Telemetry }},
		"state-dir":       {"state_dir", func() { cfg.StateDir = flagCfg.StateDir }},
	} {
		if fl.Changed(flag) {
			o.apply()
			set[o.key] = "--" + flag
		}
	}
	if err := cfg.ValidateOverrides(set, "flag "); err != nil {
		return cfg, err
	}
	return cfg, nil
}
