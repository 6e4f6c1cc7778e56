package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/preflight"
	"github.com/vigil-sec/vigil/pkg/sensor"
)

func newCheckCmd(stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Preflight: can this host run the sensor?",
		Long: "Check the kernel, BTF, each BPF program type Vigil uses (by loading a tiny\n" +
			"program), the ring buffer, lockdown, tracefs/bpffs (mounted when absent),\n" +
			"capabilities and memlock. Exits 1 with the reasons when the sensor cannot run.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			sensor.RouteLibbpfLogs(zap.NewNop()) // refusals are the report's content
			r := preflight.Run()
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(stdout, "kernel %s\n", r.Kernel)
				for _, c := range r.Checks {
					fmt.Fprintf(stdout, "%-5s %-32s %s\n", c.Status, c.Name, c.Detail)
				}
			}
			if !r.OK {
				return &exitError{code: 1, msg: "this host cannot run the sensor: see the failed checks"}
			}
			if !asJSON {
				fmt.Fprintln(stdout, "ok: this host can run the Vigil sensor")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
