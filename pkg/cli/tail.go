package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/transport"
)

func newTailCmd(stdout io.Writer) *cobra.Command {
	var (
		url, stream, subject string
		auth                 transport.Auth
		count                int
		timeout              time.Duration
		onlyNew, create      bool
	)
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print what reached the JetStream stream (alerts, heartbeats, events)",
		Long: "Read the Vigil stream from the server and print each message as a JSON line:\n" +
			"{\"subject\":…,\"sequence\":…,\"data\":…}. Nothing is acknowledged or removed.\n" +
			"With --count it exits 0 after that many messages, and 1 when --timeout passes first.",
		Example: "  vigil tail --nats-url nats://127.0.0.1:4222 --subject 'vigil.*.alert.*' --count 1 --timeout 60s",
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := auth.Options()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			seen := 0
			enc := json.NewEncoder(stdout)
			err = transport.Tail(ctx, url, opts, stream, subject, onlyNew, create, func(m transport.Message) bool {
				line := struct {
					Subject  string          `json:"subject"`
					Sequence uint64          `json:"sequence"`
					Data     json.RawMessage `json:"data"`
				}{m.Subject, m.Sequence, m.Data}
				if !json.Valid(m.Data) {
					b, _ := json.Marshal(string(m.Data))
					line.Data = b
				}
				_ = enc.Encode(line)
				seen++
				return count <= 0 || seen < count
			})
			if count > 0 && seen < count {
				return fmt.Errorf("%d of %d messages on %q before the timeout (%v)", seen, count, subject, err)
			}
			if err != nil && err != context.DeadlineExceeded && err != context.Canceled {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "nats-url", "nats://127.0.0.1:4222", "NATS server")
	f.StringVar(&stream, "stream", "VIGIL", "JetStream stream")
	f.StringVar(&subject, "subject", "vigil.*.alert.*", "subject filter (wildcards allowed)")
	f.IntVar(&count, "count", 0, "exit after this many messages (0: run until --timeout or interrupted)")
	f.DurationVar(&timeout, "timeout", 0, "give up after this long (0: no limit)")
	f.BoolVar(&onlyNew, "new", false, "only messages stored from now on")
	f.BoolVar(&create, "create-stream", false, "create the stream when it does not exist (single-machine set-ups, tests)")
	f.StringVar(&auth.Creds, "creds", "", ".creds file")
	f.StringVar(&auth.NKey, "nkey", "", "NKey seed file")
	f.StringVar(&auth.CA, "ca", "", "CA bundle (tls:// URLs)")
	f.StringVar(&auth.Cert, "cert", "", "client certificate")
	f.StringVar(&auth.Key, "key", "", "client key")
	return cmd
}
