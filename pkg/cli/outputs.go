package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend"
	"github.com/vigil-sec/vigil/pkg/backend/route"
	"github.com/vigil-sec/vigil/pkg/config"
)

// newOutputsCmd: vigil backend outputs test|list.
func newOutputsCmd(stdout io.Writer) *cobra.Command {
	outs := &cobra.Command{Use: "outputs", Short: "Check the outputs threats and detections are routed to"}
	var cfgPath, event, severity string
	test := &cobra.Command{
		Use:   "test NAME",
		Short: "Send a sample threat to one output of backend.yaml and print the receiver's answer",
		Long: "Send a sample threat (its title says it is a test) to the output NAME of backend.yaml, as the\n" +
			"backend would, and print the receiver's answer. Nothing goes through the backend or NATS: the\n" +
			"output's keys, certificates and receiver are checked from this machine.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.LoadBackend(cfgPath)
			if err != nil {
				return err
			}
			var names []string
			for _, o := range cfg.Outputs {
				names = append(names, o.Name)
			}
			i := slices.IndexFunc(cfg.Outputs, func(o config.Output) bool { return o.Name == args[0] })
			if i < 0 {
				if len(names) == 0 {
					return fmt.Errorf("%s has no outputs", cfgPath)
				}
				return fmt.Errorf("no output %q in %s (outputs: %s)", args[0], cfgPath, strings.Join(names, ", "))
			}
			sev, err := alert.ParseSeverity(severity)
			if err != nil {
				return fmt.Errorf("--severity: %w", err)
			}
			ev := "threat." + event
			if !slices.Contains([]string{alert.EventThreatOpened, alert.EventThreatUpdated, alert.EventThreatAcknowledged,
				alert.EventThreatResolved, alert.EventThreatReopened}, ev) {
				return fmt.Errorf("--event %q: opened, updated, acknowledged, resolved or reopened", event)
			}
			oc := cfg.Outputs[i]
			out, err := route.New(oc)
			if err != nil {
				return err
			}
			defer func() { _ = out.Close() }()
			rc, err := out.Send(cmd.Context(), &route.Delivery{N: route.Sample(ev, sev, cfg.UIBase(), time.Now())})
			if err != nil {
				if route.IsPermanent(err) {
					return fmt.Errorf("%s (%s): refused (the backend would dead-letter this): %w", oc.Name, oc.Type, err)
				}
				return fmt.Errorf("%s (%s): failed (the backend would retry): %w", oc.Name, oc.Type, err)
			}
			_, err = fmt.Fprintf(stdout, "%s (%s): %s\n", oc.Name, oc.Type, rc.Answer)
			return err
		},
	}
	test.Flags().StringVar(&cfgPath, "config", config.DefaultBackendPath, "backend configuration file")
	test.Flags().StringVar(&event, "event", "opened", "opened, updated, acknowledged, resolved or reopened")
	test.Flags().StringVar(&severity, "severity", "high", "the sample threat's severity")

	var api, tokenFile string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "Show each output's deliveries, failures and the latest dead letters (from the running backend)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			var st backend.OutputsStatus
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/outputs", nil, &st); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "OUTPUT\tTYPE\tHEALTHY\tSENT\tFAILED\tDEAD\tDEFERRED\tRATE-LIMITED\tLAST ERROR")
			for _, o := range st.Outputs {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%d\t%d\t%d\t%s\n", o.Name, o.Type, o.Healthy, o.Sent, o.Failed, o.DeadLettered, o.Deferred,
					o.RateLimited, o.LastError)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if !st.Leading {
				fmt.Fprintln(stdout, "(this backend instance does not route now: its counters are not the live ones)")
			}
			fmt.Fprintf(stdout, "dead letters: %d\n", st.DeadTotal)
			for _, d := range st.Dead {
				key := ""
				if d.Notification != nil {
					key = d.Notification.Event + " " + d.Notification.Key
				}
				fmt.Fprintf(stdout, "  %s  %s  %s: %s\n", d.Time.Format(time.RFC3339), d.Output, key, d.Error)
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	apiFlags(list, &api, &tokenFile)
	outs.AddCommand(test, list)
	return outs
}
