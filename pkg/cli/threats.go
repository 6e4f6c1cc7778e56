package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/correlate"
)

func newThreatsCmd(stdout io.Writer) *cobra.Command {
	var api, tokenFile, status, severity, host, rule, tactic, since string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "threats",
		Short: "List threats (most severe first) from the backend's API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			q := queryOf(map[string]string{"status": status, "severity": severity, "host": host, "rule": rule, "tactic": tactic, "since": since})
			q.Set("limit", fmt.Sprint(limit))
			var out struct {
				Threats []json.RawMessage `json:"threats"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/threats?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				if out.Threats == nil {
					out.Threats = []json.RawMessage{}
				}
				return printJSON(stdout, out)
			}
			var rows []string
			for _, raw := range out.Threats {
				var t alert.Threat
				_ = json.Unmarshal(raw, &t)
				rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s", t.ID, t.Severity, t.Status, t.LastSeen.UTC().Format(time.RFC3339), len(t.Timeline), t.Title))
			}
			return listing(stdout, cmd.ErrOrStderr(), "ID\tSEVERITY\tSTATUS\tLAST SEEN\tDETECTIONS\tTITLE", rows, "no threats")
		},
	}
	fl := cmd.Flags()
	apiFlags(cmd, &api, &tokenFile)
	fl.StringVar(&status, "status", "", "open, in_progress, resolved or rejected")
	fl.StringVar(&severity, "severity", "", "at least this severity: info, low, medium, high, critical")
	fl.StringVar(&host, "host", "", "only threats on this host (id or name)")
	fl.StringVar(&rule, "rule", "", "only threats with a detection of this rule")
	fl.StringVar(&tactic, "tactic", "", "only threats with this ATT&CK tactic")
	fl.StringVar(&since, "since", "", "last seen from: RFC 3339 or a duration back (24h, 7d)")
	fl.IntVar(&limit, "limit", 100, "at most this many")
	fl.BoolVar(&asJSON, "json", false, "print the API's JSON")
	cmd.AddCommand(newThreatShowCmd(stdout), newThreatSetCmd(stdout), newThreatResolveCmd(stdout))
	return cmd
}

func newThreatShowCmd(stdout io.Writer) *cobra.Command {
	var api, tokenFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one threat: its chain, entities and notes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "GET", "/api/v1/threats/"+url.PathEscape(args[0]), nil, &raw); err != nil {
				return err
			}
			if asJSON {
				return printJSON(stdout, raw)
			}
			var t alert.Threat
			if err := json.Unmarshal(raw, &t); err != nil {
				return err
			}
			printThreat(stdout, &t)
			return nil
		},
	}
	apiFlags(cmd, &api, &tokenFile)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	return cmd
}

func newThreatSetCmd(stdout io.Writer) *cobra.Command {
	var api, tokenFile, status, resolution, note string
	cmd := &cobra.Command{
		Use:   "set ID",
		Short: "Triage a threat: its status, resolution, a note (admin token)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			var u alert.ThreatUpdate
			if cmd.Flags().Changed("status") {
				u.Status = &status
			}
			if cmd.Flags().Changed("resolution") {
				u.Resolution = &resolution
			}
			u.Note = note
			return patchThreat(cmd, c, args[0], u, stdout)
		},
	}
	fl := cmd.Flags()
	apiFlags(cmd, &api, &tokenFile)
	fl.StringVar(&status, "status", "", strings.Join(alert.ThreatStatuses(), ", "))
	fl.StringVar(&resolution, "resolution", "", strings.Join(alert.ThreatResolutions(), ", "))
	fl.StringVar(&note, "note", "", "a note to append")
	return cmd
}

func newThreatResolveCmd(stdout io.Writer) *cobra.Command {
	var api, tokenFile, resolution, note string
	cmd := &cobra.Command{
		Use:   "resolve ID --resolution R [--note TEXT]",
		Short: "Resolve a threat with a resolution and a note (admin token)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			status := alert.StatusResolved
			return patchThreat(cmd, c, args[0], alert.ThreatUpdate{Status: &status, Resolution: &resolution, Note: note}, stdout)
		},
	}
	fl := cmd.Flags()
	apiFlags(cmd, &api, &tokenFile)
	fl.StringVar(&resolution, "resolution", "", strings.Join(alert.ThreatResolutions(), ", "))
	fl.StringVar(&note, "note", "", "a note to append")
	_ = cmd.MarkFlagRequired("resolution")
	completeValues(cmd, map[string][]string{"resolution": alert.ThreatResolutions()})
	return cmd
}

// patchThreat sends a triage to the API and prints the threat as it is now.
func patchThreat(cmd *cobra.Command, c *apiClient, id string, u alert.ThreatUpdate, stdout io.Writer) error {
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	var t alert.Threat
	if err := c.do(cmd.Context(), "PATCH", "/api/v1/threats/"+url.PathEscape(id), body, &t); err != nil {
		return err
	}
	printThreat(stdout, &t)
	return nil
}

func printThreat(w io.Writer, t *alert.Threat) {
	fmt.Fprintf(w, "%s  %s  %s\n%s\n", t.ID, strings.ToUpper(t.Severity.String()), t.Status, t.Title)
	if t.Resolution != "" {
		fmt.Fprintf(w, "resolution: %s\n", t.Resolution)
	}
	fmt.Fprintf(w, "seen: %s .. %s\ntactics: %s\n", t.FirstSeen.UTC().Format(time.RFC3339), t.LastSeen.UTC().Format(time.RFC3339), strings.Join(t.Tactics, " > "))
	for _, r := range t.Reasons {
		fmt.Fprintf(w, "  why: %s\n", r)
	}
	ents := func(label string, l []alert.Entity) {
		var s []string
		for _, e := range l {
			s = append(s, e.Kind+"="+e.ID)
		}
		fmt.Fprintf(w, "%s: %s\n", label, strings.Join(s, ", "))
	}
	ents("actors", t.Actors)
	ents("resources", t.Resources)
	fmt.Fprintln(w, "timeline:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range t.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Source, e.Severity, e.Tactic, e.Rule)
	}
	_ = tw.Flush()
	for _, n := range t.Notes {
		fmt.Fprintf(w, "note %s %s: %s\n", n.Time.UTC().Format(time.RFC3339), n.Author, n.Text)
	}
}

// listing prints tab-separated rows as a table under header, or says
// none on stderr when there are none.
func listing(stdout, stderr io.Writer, header string, rows []string, none string) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(stderr, none)
	}
	return nil
}

// queryOf is the set filters as URL parameters.
func queryOf(filters map[string]string) url.Values {
	q := url.Values{}
	for k, v := range filters {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newSensorsCmd(stdout io.Writer) *cobra.Command {
	var api, tokenFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sensors",
		Short: "List the agents the backend hears from: version, last heartbeat, rates, drops, backlog",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			var out struct {
				Sensors []correlate.Sensor `json:"sensors"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/sensors", nil, &out); err != nil {
				return err
			}
			if asJSON {
				if out.Sensors == nil {
					out.Sensors = []correlate.Sensor{}
				}
				return printJSON(stdout, out)
			}
			var rows []string
			for _, s := range out.Sensors {
				bundle := s.Bundle
				if bundle == "" {
					bundle = "-"
				}
				if s.BundleError != "" {
					bundle += " (refused a push: " + strings.SplitN(s.BundleError, "\n", 2)[0] + ")"
				}
				rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%.0f\t%d\t%d\t%s\t%s", s.Host, s.Hostname, s.Status, s.Version,
					s.LastHeartbeat.UTC().Format(time.RFC3339), s.EventsPerSecond, s.Drops, s.SpoolBacklog, s.Rules, bundle))
			}
			return listing(stdout, cmd.ErrOrStderr(), "HOST\tHOSTNAME\tSTATUS\tVERSION\tLAST HEARTBEAT\tEVENTS/S\tDROPS\tSPOOL\tRULES\tBUNDLE", rows, "no sensors")
		},
	}
	apiFlags(cmd, &api, &tokenFile)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	return cmd
}
