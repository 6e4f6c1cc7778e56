package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/simulate"
	"github.com/vigil-sec/vigil/pkg/status"
)

func newSimulateCmd(stdout io.Writer) *cobra.Command {
	var (
		list, runAll, asJSON, noCheck bool
		socket                        string
		wait                          time.Duration
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
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			var names []string
			for _, s := range simulate.Scenarios() {
				if !slices.Contains(args, s.Name) {
					names = append(names, s.Name+"\t"+s.Desc)
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
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
			st, err := status.Fetch(cmd.Context(), socket)
			if err != nil && !noCheck {
				return fmt.Errorf("%w\nstart the agent first (sudo vigil agent), or run with --no-check to re-enact without checking", err)
			}
			if err == nil {
				pid = st.PID
			}
			res, err := simulate.Run(cmd.Context(), args, pid, stdout)
			if err != nil {
				return err
			}
			if !noCheck {
				verify(cmd, socket, wait, res)
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			}
			failed, passed, skipped := 0, 0, 0
			for _, r := range res {
				var line string
				switch {
				case r.Error != "":
					failed++
					line = fmt.Sprintf("error   %-20s %s", r.Name, r.Error)
				case r.Skipped != "":
					skipped++
					line = fmt.Sprintf("skipped %-20s %s", r.Name, r.Skipped)
				case noCheck:
					line = fmt.Sprintf("ran     %-20s expect: %s", r.Name, strings.Join(r.Rules, "; "))
				case r.Passed():
					passed++
					line = fmt.Sprintf("pass    %-20s %s", r.Name, strings.Join(r.Rules, "; "))
				default:
					failed++
					line = fmt.Sprintf("FAIL    %-20s no alert from: %s", r.Name, strings.Join(r.Missing, "; "))
				}
				if !asJSON {
					fmt.Fprintln(stdout, line)
				}
			}
			if !asJSON && !noCheck {
				fmt.Fprintf(stdout, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
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
	cmd.Flags().StringVar(&socket, "socket", config.Default().StatusSocket, "the running agent's status socket (asked which alerts it raised)")
	cmd.Flags().BoolVar(&noCheck, "no-check", false, "only re-enact: do not ask the agent whether the alerts came")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the expected alerts")
	return cmd
}

// verify asks the agent for its recent alerts until every scenario that
// ran has its alerts or wait is over.
func verify(cmd *cobra.Command, socket string, wait time.Duration, res []simulate.Result) {
	deadline := time.Now().Add(wait)
	for {
		var raised []simulate.Raised
		if st, err := status.Fetch(cmd.Context(), socket); err == nil {
			for _, a := range st.RecentAlerts {
				raised = append(raised, simulate.Raised{Rule: a.Rule, Time: a.Time})
			}
		}
		if simulate.Verify(res, raised) || time.Now().After(deadline) || cmd.Context().Err() != nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
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
