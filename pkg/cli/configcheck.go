package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/rules"
)

func newConfigCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Configuration tools"}
	var path string
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and the rules it loads (systemd's ExecReload runs this first)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			if err := cfg.ApplyEnv(os.Environ()); err != nil {
				return err
			}
			rs, err := rules.LoadAndCompile(rules.Sources{Builtin: cfg.Rules.Builtin, VendorDir: cfg.Rules.VendorDir, Paths: cfg.Rules.Paths})
			if err != nil {
				fmt.Fprintln(stdout, err)
				return &exitError{code: 1, msg: "rule errors"}
			}
			fmt.Fprintf(stdout, "ok: %s valid; %d rules (version %s)\n", path, len(rs.Rules), rs.Version)
			return nil
		},
	}
	check.Flags().StringVarP(&path, "config", "c", config.DefaultPath, "configuration file")
	cmd.AddCommand(check)
	return cmd
}
