package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vigil-sec/vigil/pkg/agent"
	"github.com/vigil-sec/vigil/pkg/backend"
	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/sensor"
	"github.com/vigil-sec/vigil/pkg/simulate"
)

// newRunCmd is the all-in-one: the backend with its embedded NATS, and the
// agent delivering to it, in one process on this machine.
func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	af := &agentFlags{cfg: config.Default()}
	bf := &backendFlags{}
	agentCmd := newAgentCmdWith(stdout, stderr, af) // its flags, for the agent's part
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run everything on this machine: the agent, an embedded NATS and the backend with its API",
		Long: "Run the all-in-one, the first thing to try: the backend (embedded NATS with JetStream under\n" +
			"--data-dir, the API on --listen) and the agent delivering its alerts and heartbeats to it,\n" +
			"in one process. It prints where the UI and API are and the admin token file, prints alerts as the\n" +
			"agent does, and stops cleanly on Ctrl-C (the agent first, so its spool drains).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bcfg, err := runBackendConfig(cmd, bf, af)
			if err != nil {
				return err
			}
			if !bcfg.Embedded() {
				return errors.New("vigil run uses the embedded NATS server: remove nats.url from the backend configuration (or run `vigil backend` and `vigil agent` apart)")
			}
			if !bcfg.Anonymous() {
				return errors.New("vigil run delivers to the embedded NATS on loopback without credentials: nats.users in the backend configuration need `vigil backend` and `vigil agent` apart")
			}
			acfg, err := agentConfig(cmd.Flags(), af.path, &af.cfg, os.Environ())
			if err != nil {
				return err
			}
			// The terminal is the newcomer's: warnings and errors only,
			// unless a log level is asked for.
			if !cmd.Flags().Changed("log-level") && acfg.LogLevel == config.Default().LogLevel {
				acfg.LogLevel = "warn"
			}
			log, err := newLogger(acfg.LogLevel, stderr)
			if err != nil {
				return err
			}
			defer log.Sync()
			if err := sensor.CanLoad(); err != nil {
				return err
			}
			ctx := cmd.Context()
			// The backend outlives the agent: it stops once the agent has
			// delivered what it holds.
			bctx, stopBackend := context.WithCancel(context.WithoutCancel(ctx))
			defer stopBackend()
			b, err := backend.Start(bctx, bcfg, log.Named("backend"))
			if err != nil {
				return err
			}
			defer b.Close()
			ready := make(chan struct{})
			berr := make(chan error, 1)
			go func() { berr <- b.Run(bctx, func() { close(ready) }) }()
			select {
			case <-ready:
			case err := <-berr:
				return fmt.Errorf("backend: %w", err)
			case <-ctx.Done():
				stopBackend()
				return <-berr
			}
			acfg.NATS.URL = "nats://" + b.NATSAddr().String()
			acfg.Env = bcfg.Env
			a := agent.New(acfg, log, stdout)
			a.Color = useColor(acfg.Color, stdout)
			// `vigil simulate` fakes the metadata service at its own
			// loopback address: the all-in-one's rules know it.
			a.ExtraRules = []rules.Inline{{Name: "<vigil run: simulator metadata address>", Content: []byte(simulatorIMDS)}}
			a.Ready = func() {
				fmt.Fprintf(stderr, "\nVigil is running: the agent, NATS and the backend, on this machine.\n"+
					"  UI and API   http://%s  (sign in with the admin token)\n"+
					"  admin token  %s\n"+
					"  NATS         %s (agents of other machines can deliver here)\n"+
					"  try          sudo %[4]s simulate --all    (in another terminal: alerts print here)\n"+
					"               sudo %[4]s threats           (the threats they make, also in the UI)\n"+
					"  stop         Ctrl-C\n\n",
					b.Addr(), filepath.Join(bcfg.DataDir, backend.AdminTokenFile), acfg.NATS.URL, invokedAs())
			}
			aerr := a.Run(ctx)
			stopBackend()
			if err := <-berr; err != nil && aerr == nil {
				aerr = fmt.Errorf("backend: %w", err)
			}
			return aerr
		},
	}
	// The agent's flags as they are, then the backend's that do not clash.
	agentCmd.Flags().VisitAll(func(f *pflag.Flag) {
		switch f.Name {
		case "nats-url", "nats-creds", "nats-nkey", "nats-ca", "cpuprofile": // the embedded server's, anonymous on loopback
		default:
			cmd.Flags().AddFlag(f)
		}
	})
	fl := cmd.Flags()
	fl.StringVar(&bf.config, "backend-config", config.DefaultBackendPath, "backend configuration file")
	fl.StringVar(&bf.dataDir, "data-dir", config.DefaultBackendDataDir, "the backend's JetStream store and admin token")
	fl.StringVar(&bf.natsListen, "nats-listen", "127.0.0.1:4222", "address of the embedded NATS server")
	fl.StringVar(&bf.listen, "listen", "127.0.0.1:8080", "address of the HTTP API")
	return cmd
}

// invokedAs is how to run this binary again from the same directory: as
// typed when it was a path (./bin/vigil under make run), else vigil.
func invokedAs() string {
	if strings.Contains(os.Args[0], "/") {
		return os.Args[0]
	}
	return "vigil"
}

// simulatorIMDS adds the address `vigil simulate` serves its fake metadata
// service on to the metadata addresses (nothing real listens there).
var simulatorIMDS = fmt.Sprintf("- list: imds_addresses\n  override: {items: append}\n  items: [%s]\n", simulate.FakeIMDS)

// runBackendConfig is the backend's configuration for `vigil run`: its
// file, then the flags given (--env is the agent's, and both's).
func runBackendConfig(cmd *cobra.Command, bf *backendFlags, af *agentFlags) (config.Backend, error) {
	cfg, err := config.LoadBackend(bf.config)
	if err != nil {
		return cfg, err
	}
	fl := cmd.Flags()
	for name, set := range map[string]func(){
		"data-dir":    func() { cfg.DataDir = bf.dataDir },
		"nats-listen": func() { cfg.NATS.Listen = bf.natsListen },
		"listen":      func() { cfg.Listen = bf.listen },
		"env":         func() { cfg.Env = af.cfg.Env },
	} {
		if fl.Changed(name) {
			set()
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("flags: %w", err)
	}
	return cfg, nil
}
