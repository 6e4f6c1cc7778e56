package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/agent"
	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/transport"
)

// readEnvFile reads the agent unit's EnvironmentFile: the named one, or the
// first default that exists.
func readEnvFile(name string) ([]string, error) {
	if name == "none" {
		return nil, nil
	}
	names := []string{name}
	if name == "" {
		names = config.DefaultEnvFiles
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			if name == "" && os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		return config.ParseEnvFile(n, b)
	}
	return nil, nil
}

func newConfigCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Configuration tools"}
	var path, envFile string
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and the rules it loads (systemd's ExecReload runs this first)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			// The unit's EnvironmentFile first, then this process's
			// environment (which is the same under systemctl reload).
			env, err := readEnvFile(envFile)
			if err != nil {
				return err
			}
			if err := cfg.ApplyEnv(append(env, os.Environ()...)); err != nil {
				return err
			}
			if cfg.NATS.URL != "" {
				auth := transport.Auth{Creds: cfg.NATS.Creds, NKey: cfg.NATS.NKey, CA: cfg.NATS.CA, Cert: cfg.NATS.Cert, Key: cfg.NATS.Key}
				if _, err := auth.Options(); err != nil {
					return fmt.Errorf("nats credentials: %w", err)
				}
			}
			rs, err := rules.LoadAndCompile(rules.Sources{Builtin: cfg.Rules.Builtin, VendorDir: cfg.Rules.VendorDir, Paths: cfg.Rules.Paths})
			if err != nil {
				fmt.Fprintln(stdout, err)
				return &exitError{code: 1, msg: "rule errors"}
			}
			if _, err := agent.KernelFilters(cfg, rs); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			fmt.Fprintf(stdout, "ok: %s valid; %d rules (version %s)\n", path, len(rs.Rules), rs.Version)
			return nil
		},
	}
	check.Flags().StringVarP(&path, "config", "c", config.DefaultPath, "configuration file")
	check.Flags().StringVar(&envFile, "env-file", "", "environment file (default: /etc/default/vigil or /etc/sysconfig/vigil, when present; \"none\" for none)")
	cmd.AddCommand(check)
	return cmd
}
