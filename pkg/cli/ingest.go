package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/backend/ingest"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/wire"
)

func newIngestCmd(stdout, stderr io.Writer, stdin io.Reader) *cobra.Command {
	var natsURL, creds, nkey, ca, cert, key, env, format, cluster string
	cmd := &cobra.Command{
		Use:   "ingest cloudtrail|vpcflow|k8saudit PATH...",
		Short: "Publish cloud log files (files, directories, .gz, - for stdin) to the backend",
		Long: "Parse cloud logs and publish the records to the backend's cloud stream. Records carry their\n" +
			"source ids as message ids, so ingesting a file again stores nothing twice. A malformed record\n" +
			"is reported with its file and line and never stops the rest. The exit status is non-zero only\n" +
			"when nothing could be read or published.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return fmt.Errorf("want a source (cloudtrail, vpcflow or k8saudit) and at least one path")
			}
			if cloudevent.IsSource(args[0]) {
				return nil
			}
			return fmt.Errorf("unknown source %q: cloudtrail, vpcflow or k8saudit", args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			source, paths := args[0], args[1:]
			o := ingest.Options{Env: env, Cluster: cluster}
			if env == "" || cloudevent.Token(env) != env {
				return fmt.Errorf("--env %q: letters, digits, '-' and '_'", env)
			}
			if format != "" {
				f, err := cloudevent.ParseFlowFormat(format)
				if err != nil {
					return fmt.Errorf("--format: %w", err)
				}
				o.Format = f
			}
			files, err := ingest.Inputs(paths)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			conn, err := store.Connect(ctx, store.Options{URL: natsURL, Name: "vigil ingest", Creds: creds, NKeySeed: nkey, CAFile: ca, CertFile: cert, KeyFile: key, Wait: 5 * time.Second,
				ReconnectFor: 30 * time.Second}, nil)
			if err != nil {
				return err
			}
			defer conn.Close()
			// A cluster electing its JetStream leader (a node lost) answers
			// nothing for a few seconds: that is not a missing stream.
			ok, err := conn.HasStream(ctx, wire.CloudStream)
			for deadline := time.Now().Add(30 * time.Second); err != nil && time.Now().Before(deadline); {
				time.Sleep(time.Second)
				ok, err = conn.HasStream(ctx, wire.CloudStream)
			}
			if err != nil {
				return fmt.Errorf("%s on %s: %w", wire.CloudStream, wire.RedactURL(natsURL), err)
			}
			if !ok {
				return fmt.Errorf("no %s stream on %s: start the backend (vigil backend) first", wire.CloudStream, wire.RedactURL(natsURL))
			}
			var total ingest.Summary
			var failures int
			for i, f := range files {
				data, err := ingest.ReadInput(f, stdin)
				if err != nil {
					fmt.Fprintf(stderr, "%s: %v\n", f, err)
					failures++
					continue
				}
				sum, err := ingest.Data(ctx, conn, source, f, data, o, func(e error) { fmt.Fprintln(stderr, e) })
				total.Add(sum)
				if err != nil {
					fmt.Fprintf(stderr, "%s: %v\n", f, err)
					failures++
					if !conn.Connected() {
						// The server is gone: the rest would fail the same way.
						fmt.Fprintf(stderr, "lost the connection to %s: %d inputs not read; ingest them again (nothing is stored twice)\n",
							wire.RedactURL(natsURL), len(files)-i-1)
						failures += len(files) - i - 1
						break
					}
				}
			}
			fmt.Fprintln(stdout, total.String())
			if total.Read == 0 || total.Published+total.Duplicates == 0 {
				return &exitError{code: 1, msg: "nothing was read or published"}
			}
			if failures > 0 {
				fmt.Fprintf(stderr, "%d inputs failed (see above)\n", failures)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&natsURL, "nats-url", "nats://127.0.0.1:4222", "the backend's NATS server")
	fl.StringVar(&creds, "nats-creds", "", "credentials (.creds) file")
	fl.StringVar(&nkey, "nats-nkey", "", "NKey seed file")
	fl.StringVar(&ca, "nats-ca", "", "CA file to verify the server's TLS")
	fl.StringVar(&cert, "nats-cert", "", "client certificate, when the server requires mutual TLS")
	fl.StringVar(&key, "nats-key", "", "the client certificate's key")
	fl.StringVar(&env, "env", "default", "deployment environment (the subjects' second token)")
	fl.StringVar(&format, "format", "", "vpcflow: the field order of files without a header line, e.g. \"version account-id ...\"")
	fl.StringVar(&cluster, "cluster", "default", "k8saudit: the cluster's name (the join key)")
	return cmd
}

func newDetectionsCmd(stdout io.Writer) *cobra.Command {
	var api, tokenFile, source, severity, since, until, rule string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "detections",
		Short: "List detections (newest first) from the backend's API",
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			q := queryOf(map[string]string{"source": source, "severity": severity, "since": since, "until": until, "rule": rule})
			q.Set("limit", fmt.Sprint(limit))
			var out struct {
				Detections []json.RawMessage `json:"detections"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/detections?"+q.Encode(), nil, &out); err != nil {
				return err
			}
			if asJSON {
				if out.Detections == nil {
					out.Detections = []json.RawMessage{}
				}
				return printJSON(stdout, out)
			}
			var rows []string
			for _, raw := range out.Detections {
				var d struct {
					Time     time.Time `json:"time"`
					Severity string    `json:"severity"`
					Source   string    `json:"source"`
					Rule     string    `json:"rule"`
					Message  string    `json:"message"`
				}
				_ = json.Unmarshal(raw, &d)
				msg := d.Message
				if len(msg) > 120 {
					msg = msg[:117] + "..."
				}
				rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s", d.Time.UTC().Format(time.RFC3339), d.Severity, d.Source, d.Rule, strings.ReplaceAll(msg, "\n", " ")))
			}
			return listing(stdout, cmd.ErrOrStderr(), "TIME\tSEVERITY\tSOURCE\tRULE\tMESSAGE", rows, "no detections")
		},
	}
	fl := cmd.Flags()
	apiFlags(cmd, &api, &tokenFile)
	fl.StringVar(&source, "source", "", "runtime, cloudtrail, vpcflow or k8saudit")
	fl.StringVar(&severity, "severity", "", "at least this severity: info, low, medium, high, critical")
	fl.StringVar(&since, "since", "", "event time from: RFC 3339 or a duration back (24h, 7d)")
	fl.StringVar(&until, "until", "", "event time before: RFC 3339 or a duration back")
	fl.StringVar(&rule, "rule", "", "only this rule")
	fl.IntVar(&limit, "limit", 100, "at most this many")
	fl.BoolVar(&asJSON, "json", false, "print the API's JSON")
	return cmd
}
