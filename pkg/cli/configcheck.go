package cli

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/agent"
	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/host"
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

// loadWithEnv reads the configuration as the unit runs it: the file, the
// unit's EnvironmentFile, then this process's environment (the same under
// systemctl reload).
func loadWithEnv(path, envFile string) (config.Agent, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, err
	}
	env, err := readEnvFile(envFile)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.ApplyEnv(append(env, os.Environ()...))
}

func newConfigCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Configuration tools"}
	var path, envFile string
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and the rules it loads (systemd's ExecReload runs this first)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadWithEnv(path, envFile)
			if err != nil {
				return err
			}
			if cfg.NATS.URL != "" {
				auth := transport.Auth{Creds: cfg.NATS.Creds, NKey: cfg.NATS.NKey, CA: cfg.NATS.CA, Cert: cfg.NATS.Cert, Key: cfg.NATS.Key}
				if _, err := auth.Options(); err != nil {
					return fmt.Errorf("nats credentials: %w", err)
				}
			}
			rs, err := host.LoadAndCompile(rules.Sources{Builtin: cfg.Rules.Builtin, VendorDir: cfg.Rules.VendorDir, Paths: cfg.Rules.Paths})
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

	var write string
	policy := &cobra.Command{
		Use:   "network-policy",
		Short: "Print (or --write) a systemd drop-in that lets the agent reach only loopback, the metadata service and its NATS servers",
		Long: "Resolve the configured NATS servers and print a drop-in for vigil-agent.service with\n" +
			"IPAddressDeny=any and IPAddressAllow= those addresses, loopback and the metadata service.\n" +
			"Install it, then systemctl daemon-reload and restart the agent:\n\n" +
			"  vigil config network-policy --write /etc/systemd/system/vigil-agent.service.d/60-network.conf",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadWithEnv(path, envFile)
			if err != nil {
				return err
			}
			out, err := config.NetworkPolicy(cfg, net.LookupHost)
			if err != nil {
				return err
			}
			if write == "" {
				_, err := io.WriteString(stdout, out)
				return err
			}
			if err := os.MkdirAll(filepath.Dir(write), 0o755); err != nil {
				return err
			}
			return os.WriteFile(write, []byte(out), 0o644)
		},
	}
	policy.Flags().StringVarP(&path, "config", "c", config.DefaultPath, "configuration file")
	policy.Flags().StringVar(&envFile, "env-file", "", "environment file (as for check)")
	policy.Flags().StringVar(&write, "write", "", "write the drop-in to this file instead of printing it")
	cmd.AddCommand(check, policy)
	return cmd
}
