package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/backend"
	"github.com/vigil-sec/vigil/pkg/backend/api"
	"github.com/vigil-sec/vigil/pkg/config"
)

// backendFlags are the flags that override backend.yaml.
type backendFlags struct {
	config, dataDir, natsListen, natsURL, listen, env, logLevel string
	creds, nkeySeed, caFile                                     string
}

func (f *backendFlags) load(cmd *cobra.Command) (config.Backend, error) {
	cfg, err := config.LoadBackend(f.config)
	if err != nil {
		return cfg, err
	}
	set := func(name string, dst *string, v string) {
		if cmd.Flags().Changed(name) {
			*dst = v
		}
	}
	set("data-dir", &cfg.DataDir, f.dataDir)
	set("nats-listen", &cfg.NATS.Listen, f.natsListen)
	set("nats-url", &cfg.NATS.URL, f.natsURL)
	set("listen", &cfg.Listen, f.listen)
	set("env", &cfg.Env, f.env)
	set("nats-creds", &cfg.NATS.Creds, f.creds)
	set("nats-nkey", &cfg.NATS.NKeySeed, f.nkeySeed)
	set("nats-ca", &cfg.NATS.CAFile, f.caFile)
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("flags: %w", err)
	}
	return cfg, nil
}

func newBackendCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &backendFlags{}
	cmd := &cobra.Command{
		Use:   "backend",
		Short: "Run the backend: NATS JetStream, cloud-log ingestion and detections, the API",
		Long: "Run the backend. With no configuration it runs an embedded NATS server with JetStream under\n" +
			"--data-dir, listening on --nats-listen for agents, and serves the API on --listen. On first\n" +
			"start it writes an admin API token to <data-dir>/admin.token (0600).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err != nil {
				return err
			}
			log, err := newLogger(f.logLevel, stderr)
			if err != nil {
				return err
			}
			defer log.Sync()
			log = log.Named("backend")
			ctx := cmd.Context()
			b, err := backend.Start(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer b.Close()
			return b.Run(ctx, func() {
				if ok, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil && ok {
					log.Warn("sd_notify failed", zap.Error(err))
				}
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", config.DefaultBackendPath, "backend configuration file")
	fl.StringVar(&f.dataDir, "data-dir", config.DefaultBackendDataDir, "JetStream store, admin token and journal")
	fl.StringVar(&f.natsListen, "nats-listen", "127.0.0.1:4222", "address of the embedded NATS server")
	fl.StringVar(&f.natsURL, "nats-url", "", "use this external NATS server or cluster instead of the embedded one")
	fl.StringVar(&f.creds, "nats-creds", "", "credentials (.creds) file for --nats-url")
	fl.StringVar(&f.nkeySeed, "nats-nkey", "", "NKey seed file for --nats-url")
	fl.StringVar(&f.caFile, "nats-ca", "", "CA file to verify --nats-url's TLS")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address of the HTTP API and /metrics")
	fl.StringVar(&f.env, "env", "default", "deployment environment (the subjects' second token)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.AddCommand(newTokenCmd(stdout), newHostsCmd(stdout), newPasswdCmd(stdout), newOutputsCmd(stdout))
	return cmd
}

// newPasswdCmd prints the bcrypt hash of a password read from standard
// input, for ui.users in backend.yaml.
func newPasswdCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "passwd < password",
		Short: "Print the bcrypt hash of a password (standard input) for ui.users in backend.yaml",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 1024)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			pw := strings.TrimRight(line, "\r\n")
			if len(pw) < 12 || len(pw) > 72 {
				return errors.New("the password must be 12 to 72 bytes")
			}
			hash, err := api.HashPassword(pw)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, hash)
			return err
		},
	}
}

// apiClient talks to the backend's API with a bearer token.
type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

func newAPIClient(base, tokenFile string) (*apiClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--api %q: want http(s)://host:port", base)
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("token: %w (give --token-file, or run as a user who can read it)", err)
	}
	return &apiClient{base: strings.TrimSuffix(base, "/"), token: strings.TrimSpace(string(b)), hc: &http.Client{Timeout: 60 * time.Second}}, nil
}

func (c *apiClient) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("api %s: %w (is the backend running?)", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
			Field string `json:"field"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			if e.Field != "" {
				return fmt.Errorf("api: %s: %s", e.Field, e.Error)
			}
			return fmt.Errorf("api: %s", e.Error)
		}
		return fmt.Errorf("api: %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func apiFlags(cmd *cobra.Command, api, tokenFile *string) {
	cmd.Flags().StringVar(api, "api", "http://127.0.0.1:8080", "the backend's API")
	cmd.Flags().StringVar(tokenFile, "token-file", filepath.Join(config.DefaultBackendDataDir, backend.AdminTokenFile), "file holding an API token")
}

func newTokenCmd(stdout io.Writer) *cobra.Command {
	tok := &cobra.Command{Use: "token", Short: "Manage API tokens and deployment (enrollment) tokens"}
	var api, tokenFile, role, name, kind, env, ttl string
	var maxUses int
	create := &cobra.Command{
		Use:   "create [--kind api] --role admin|viewer|ingest | --kind enroll --env ENV [--ttl 30d] [--max-uses N]",
		Short: "Create a token (printed once; only its hash is stored)",
		Long: "Create an API token (--kind api, the default: --role admin, viewer or ingest), or a\n" +
			"deployment token (--kind enroll) that agents of one environment enroll with: put it\n" +
			"in cloud-init, an image or Ansible as VIGIL_ENROLL_TOKEN; each host generates its own\n" +
			"key and gets a credential confined to its own subjects.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			var out struct {
				Token string `json:"token"`
				ID    string `json:"id"`
			}
			switch kind {
			case "api":
				body, _ := json.Marshal(map[string]string{"role": role, "name": name})
				if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/tokens", body, &out); err != nil {
					return err
				}
			case "enroll":
				if env == "" {
					return errors.New("--env: the environment the hosts enroll into (a deployment token is for one)")
				}
				body, _ := json.Marshal(map[string]any{"env": env, "name": name, "ttl": ttl, "max_uses": maxUses})
				if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/enroll-tokens", body, &out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "deployment token %s for env %s (revoke: vigil backend token revoke %s)\n", out.ID, env, out.ID)
			default:
				return fmt.Errorf("--kind %q: api or enroll", kind)
			}
			_, err = fmt.Fprintln(stdout, out.Token)
			return err
		},
	}
	create.Flags().StringVar(&kind, "kind", "api", "api (API access) or enroll (agents enroll with it)")
	create.Flags().StringVar(&role, "role", "viewer", "API token: admin, viewer or ingest")
	create.Flags().StringVar(&name, "name", "", "what the token is for")
	create.Flags().StringVar(&env, "env", "", "deployment token: the environment its hosts enroll into")
	create.Flags().StringVar(&ttl, "ttl", "", "deployment token: how long it enrolls (30m, 24h, 30d; default: until revoked)")
	create.Flags().IntVar(&maxUses, "max-uses", 0, "deployment token: how many hosts it may enroll (0: unlimited)")
	apiFlags(create, &api, &tokenFile)

	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List deployment tokens with their state and uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			var out struct {
				Tokens []struct {
					ID       string     `json:"id"`
					Env      string     `json:"env"`
					Name     string     `json:"name"`
					State    string     `json:"state"`
					Uses     int        `json:"uses"`
					MaxUses  int        `json:"max_uses"`
					Created  time.Time  `json:"created"`
					Expires  *time.Time `json:"expires"`
					LastUsed *time.Time `json:"last_used"`
				} `json:"tokens"`
			}
			if asJSON {
				var raw json.RawMessage
				if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/enroll-tokens", nil, &raw); err != nil {
					return err
				}
				_, err := fmt.Fprintln(stdout, string(raw))
				return err
			}
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/enroll-tokens", nil, &out); err != nil {
				return err
			}
			var rows []string
			for _, t := range out.Tokens {
				uses, exp, last := fmt.Sprint(t.Uses), "-", "-"
				if t.MaxUses > 0 {
					uses += fmt.Sprintf("/%d", t.MaxUses)
				}
				if t.Expires != nil {
					exp = t.Expires.UTC().Format(time.RFC3339)
				}
				if t.LastUsed != nil {
					last = t.LastUsed.UTC().Format(time.RFC3339)
				}
				rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", t.ID, t.Env, t.State, uses,
					t.Created.UTC().Format(time.RFC3339), exp, last, t.Name))
			}
			return listing(stdout, cmd.ErrOrStderr(), "ID\tENV\tSTATE\tUSES\tCREATED\tEXPIRES\tLAST USED\tNAME", rows, "no deployment tokens")
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	apiFlags(list, &api, &tokenFile)

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a deployment token: it enrolls nothing new (enrolled hosts keep their credentials)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			var out struct {
				ID    string `json:"id"`
				State string `json:"state"`
			}
			if err := c.do(cmd.Context(), http.MethodDelete, "/api/v1/enroll-tokens/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "deployment token %s %s\n", out.ID, out.State)
			return err
		},
	}
	apiFlags(revoke, &api, &tokenFile)
	tok.AddCommand(create, list, revoke)
	return tok
}

func newHostsCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "hosts", Short: "List and revoke the hosts enrolled with deployment tokens"}
	var api, tokenFile string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List enrolled hosts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/hosts", nil, &raw); err != nil {
				return err
			}
			if asJSON {
				_, err := fmt.Fprintln(stdout, string(raw))
				return err
			}
			var out struct {
				Hosts []struct {
					ID       string     `json:"host_id"`
					Env      string     `json:"env"`
					Hostname string     `json:"hostname"`
					Instance string     `json:"instance_id"`
					TokenID  string     `json:"token_id"`
					Enrolled time.Time  `json:"enrolled"`
					Revoked  *time.Time `json:"revoked"`
				} `json:"hosts"`
			}
			if err := json.Unmarshal(raw, &out); err != nil {
				return err
			}
			var rows []string
			for _, h := range out.Hosts {
				state := "enrolled"
				if h.Revoked != nil {
					state = "revoked " + h.Revoked.UTC().Format(time.RFC3339)
				}
				rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", h.ID, h.Env, h.Hostname, h.Instance,
					h.Enrolled.UTC().Format(time.RFC3339), h.TokenID, state))
			}
			return listing(stdout, cmd.ErrOrStderr(), "HOST\tENV\tHOSTNAME\tINSTANCE\tENROLLED\tTOKEN\tSTATE", rows, "no enrolled hosts")
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	apiFlags(list, &api, &tokenFile)
	revoke := &cobra.Command{
		Use:   "revoke HOST",
		Short: "Revoke a host's credential: the server refuses it from now on (and disconnects it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			var out struct {
				Disconnected int `json:"disconnected"`
			}
			if err := c.do(cmd.Context(), http.MethodDelete, "/api/v1/hosts/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "host %s revoked (%d connections closed)\n", args[0], out.Disconnected)
			return err
		},
	}
	apiFlags(revoke, &api, &tokenFile)
	cmd.AddCommand(list, revoke)
	return cmd
}
