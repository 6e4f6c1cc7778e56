package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/identity"
	"github.com/vigil-sec/vigil/pkg/transport"
)

func newEnrollCmd(stdout io.Writer) *cobra.Command {
	var (
		path, seed, hostID string
		asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "Create this host's NATS credential and print the server entry that confines it",
		Long: "Create an NKey user seed for this host (mode 0600) and print the nats-server\n" +
			"authorization entry that lets it publish only vigil.<env>.*.<host-id>. Add the\n" +
			"entry to the server (or its account), then set nats.nkey to the seed file.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			if err := cfg.ApplyEnv(nil); err != nil {
				return err
			}
			if hostID == "" {
				id, _, err := identity.HostID(cfg.HostRoot, cfg.StateDir, "")
				if err != nil {
					return err
				}
				hostID = id
			}
			e, err := transport.Enroll(cfg.Env, hostID, seed)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(e)
			}
			fmt.Fprintf(stdout, "seed written to %s (mode 0600); set nats.nkey: %s\n\n", e.SeedFile, e.SeedFile)
			fmt.Fprint(stdout, e.ServerConfig())
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", config.DefaultPath, "configuration file (env, state_dir)")
	cmd.Flags().StringVar(&seed, "seed", "/etc/vigil/nats.nk", "where to write the NKey seed")
	cmd.Flags().StringVar(&hostID, "host-id", "", "host id (default: this host's stable id)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the enrollment as JSON")
	return cmd
}
