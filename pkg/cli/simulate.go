package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/simulate"
	"github.com/vigil-sec/vigil/pkg/status"
)

func newSimulateCmd(stdout io.Writer) *cobra.Command {
	var (
		list, runAll, asJSON bool
		socket               string
	)
	cmd := &cobra.Command{
		Use:   "simulate [--list] [NAME...|--all]",
		Short: "Safely re-enact attacker behaviours so a running agent's rules fire",
		Long: "Re-enact attacker behaviours without damage: system paths are only written in a\n" +
			"private mount namespace over tmpfs, network activity stays on loopback, tools are\n" +
			"copies of /bin/true, and everything created is removed. The metadata service is\n" +
			"faked at " + simulate.FakeIMDS + ": point the rules at it with\n\n" +
			"  - list: imds_addresses\n    override: {items: append}\n    items: [" + simulate.FakeIMDS + "]\n\n" +
			"Each scenario names the rules it should trigger.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SCENARIO\tRULES\tWHAT")
				for _, s := range simulate.Scenarios() {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, strings.Join(s.Rules, "; "), s.Desc)
				}
				return tw.Flush()
			}
			if len(args) == 0 && !runAll {
				return fmt.Errorf("name scenarios, or --all (see --list)")
			}
			pid := 0
			if st, err := status.Fetch(cmd.Context(), socket); err == nil {
				pid = st.PID
			}
			res, err := simulate.Run(cmd.Context(), args, pid, stdout)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			failed := 0
			for _, r := range res {
				switch {
				case r.Error != "":
					failed++
					fmt.Fprintf(stdout, "error   %-20s %s\n", r.Name, r.Error)
				case r.Skipped != "":
					fmt.Fprintf(stdout, "skipped %-20s %s\n", r.Name, r.Skipped)
				default:
					fmt.Fprintf(stdout, "ran     %-20s expect: %s\n", r.Name, strings.Join(r.Rules, "; "))
				}
			}
			if failed > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d scenarios failed", failed)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list the scenarios and the rules each should trigger")
	cmd.Flags().BoolVar(&runAll, "all", false, "run every scenario")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print results as JSON")
	cmd.Flags().StringVar(&socket, "socket", config.Default().StatusSocket, "the agent's status socket (for its pid)")
	return cmd
}

func newSimulateChildCmd() *cobra.Command {
	return &cobra.Command{
		Use:                simulate.ChildCommand,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return simulate.Child(args)
		},
	}
}
