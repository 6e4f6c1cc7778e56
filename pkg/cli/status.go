package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/status"
)

func newStatusCmd(stdout io.Writer) *cobra.Command {
	var (
		asJSON bool
		socket string
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running agent's counters",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := status.Fetch(cmd.Context(), socket)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			fmt.Fprintf(stdout, "vigil agent %s pid %d, up %.0fs\n", s.Version, s.PID, s.UptimeSeconds)
			fmt.Fprintf(stdout, "programs: %d attached, %d skipped\n", s.Programs.Attached, s.Programs.Skipped)
			for _, sk := range s.Skipped {
				fmt.Fprintf(stdout, "  skipped %s: %s\n", sk.Name, sk.Reason)
			}
			fmt.Fprintf(stdout, "events: %.1f/s, %d emitted, %d decode errors\n", s.EventsPerSecond, s.Emitted, s.DecodeErrors)
			fmt.Fprintf(stdout, "queue %d/%d, ring buffer %d/%d bytes, %d processes tracked\n",
				s.Queue.Used, s.Queue.Capacity, s.RingBuffer.Used, s.RingBuffer.Capacity, s.Processes)
			fmt.Fprintf(stdout, "cpu %.2fs (%.2f%%), rss %.1f MiB\n", s.CPUSeconds, s.CPUPercent, float64(s.RSSBytes)/(1<<20))
			fmt.Fprintf(stdout, "rules: %d (version %s, %d reloads); %d alerts, %d suppressed, %d kills, %d evaluation errors\n",
				s.Rules.Count, s.Rules.Version, s.Rules.Reloads, s.Rules.Alerts, s.Rules.Suppressed, s.Rules.Kills, s.Rules.EvalErrors)
			if b := s.Rules.Bundle; b != nil {
				v := b.Version
				if v == "" {
					v = "none pushed"
				}
				fmt.Fprintf(stdout, "  pushed rules: %s\n", v)
				if b.Error != "" {
					fmt.Fprintf(stdout, "  pushed rules refused %s (%s), running rules kept: %s\n", b.ErrorAt.Format("15:04:05"), b.Rejected, b.Error)
				}
			}
			if t := s.Transport; t != nil {
				if e := t.Enrollment; e != nil {
					switch e.State {
					case "enrolled":
						fmt.Fprintf(stdout, "enrollment: enrolled %s\n", e.Enrolled.Format(time.RFC3339))
					case "refused":
						fmt.Fprintf(stdout, "enrollment: REFUSED by the backend (%d attempts): %s\n  alerts wait in the spool; give the agent a valid deployment token (nats.enroll_token, VIGIL_ENROLL_TOKEN) and restart it\n", e.Attempts, e.Error)
					default:
						fmt.Fprintf(stdout, "enrollment: %s (%d attempts)", e.State, e.Attempts)
						if e.Error != "" {
							fmt.Fprintf(stdout, ": %s", e.Error)
						}
						fmt.Fprintln(stdout)
					}
				}
				fmt.Fprintf(stdout, "nats %s: connected=%v, %d published, %d acked, %d retries, %d errors, %d heartbeats\n",
					t.URL, t.Connected, t.Published, t.Acked, t.Retries, t.Errors, t.Heartbeats)
				if t.LastError != "" {
					fmt.Fprintf(stdout, "  last error %s: %s\n", t.LastErrorAt.Format("15:04:05"), t.LastError)
				}
				sp, _ := json.Marshal(t.Spool)
				fmt.Fprintf(stdout, "  spool %s\n", sp)
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tRECEIVED\tFILTERED\tRING DROPS\tQUEUE DROPS")
			for _, t := range s.Types {
				if t.Received+t.Filtered+t.KernelDrops+t.QueueDrops == 0 {
					continue
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", t.Type, t.Received, t.Filtered, t.KernelDrops, t.QueueDrops)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&socket, "socket", config.Default().StatusSocket, "the agent's status socket")
	return cmd
}
