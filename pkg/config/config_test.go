package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/event"
)

func TestParseValid(t *testing.T) {
	cfg, err := Parse("agent.yaml", []byte(`
output: none
events: [exec, open, connect]
watched_prefixes: [/etc/shadow, /srv/secrets/]
drop_failed: false
ring_buffer_bytes: 16777216
process_tree:
  exit_grace: 45s
  max_ancestors: 4
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Output != "none" || len(cfg.EventTypes(nil)) != 3 || cfg.DropFailed || cfg.RingBufferBytes != 16<<20 ||
		cfg.ProcessTree.ExitGrace != 45*time.Second || cfg.ProcessTree.MaxAncestors != 4 {
		t.Errorf("%+v", cfg)
	}
	// Unset keys keep their defaults.
	if cfg.QueueSize != Default().QueueSize || cfg.ProcessTree.MaxProcesses != 32768 {
		t.Errorf("defaults lost: %+v", cfg)
	}
}

func TestParseEmpty(t *testing.T) {
	cfg, err := Parse("agent.yaml", []byte("# nothing\n"))
	if err != nil || len(cfg.EventTypes(nil)) != 0 || cfg.Collect != "rules" || !cfg.Rules.Builtin {
		t.Fatalf("%v %d", err, len(cfg.EventTypes(nil)))
	}
	cfg.Collect = "all"
	if len(cfg.EventTypes(nil)) != int(event.TypeMax)-1 {
		t.Errorf("collect all: %d types", len(cfg.EventTypes(nil)))
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown key", "output: stdout\nbogus_key: 1\n", "agent.yaml:2: field bogus_key not found"},
		{"bad type", "output: stdout\nqueue_size: lots\n", "agent.yaml:2: cannot unmarshal"},
		{"syntax", "output: [stdout\n", "agent.yaml:"},
		{"bad output", "log_level: info\noutput: kafka\n", `agent.yaml:2: output: must be text, json, none or stdout, not "kafka"`},
		{"relative spool dir", "spool:\n  dir: spool\n", `agent.yaml:2: spool.dir: "spool" must be an absolute path`},
		{"relative host root", "host_root: host\n", `agent.yaml:1: host_root`},
		{"negative imds timeout", "imds:\n  timeout: -1s\n", `agent.yaml:2: imds.timeout`},
		{"negative dedup", "rules:\n  dedup_window: -5s\n", `agent.yaml:2: rules.dedup_window`},
		{"bad stream", "nats:\n  stream: \"a.b\"\n", `agent.yaml:2: nats.stream`},
		{"stream wildcard", "nats:\n  stream: \"VIGIL>\"\n", `agent.yaml:2: nats.stream`},
		{"shutdown too long", "shutdown_timeout: 1m\n", `agent.yaml:1: shutdown_timeout`},
		{"bad color", "color: pink\n", `agent.yaml:1: color`},
		{"bad event", "events:\n  - exec\n  - nope\n", `agent.yaml:1: events: unknown event type "nope"`},
		{"relative prefix", "noisy_prefixes: [tmp/]\n", "agent.yaml:1: noisy_prefixes"},
		{"ring not power of two", "ring_buffer_bytes: 5000\n", "agent.yaml:1: ring_buffer_bytes: must be a power of two"},
		{"event delay too long", "queue_size: 64\nevent_delay: 5s\n", "agent.yaml:2: event_delay: must be between 5ms and 1s, not 5s"},
		{"nested", "process_tree:\n  max_ancestors: 99\n", "agent.yaml:2: process_tree.max_ancestors"},
		{"oci bundle without id", "process_tree:\n  oci_bundles: [/run/x/config.json]\n", "agent.yaml:2: process_tree.oci_bundles.0"},
		{"metrics not loopback", "metrics_address: 0.0.0.0:9464\n", "agent.yaml:1: metrics_address"},
		{"bad collect", "collect: some\n", "agent.yaml:1: collect"},
		{"relative rules path", "rules:\n  paths: [rules.d]\n", "agent.yaml:2: rules.paths"},
		{"bad env", "env: \"a.b\"\n", "agent.yaml:1: env"},
		{"bad telemetry", "telemetry: everything\n", "agent.yaml:1: telemetry"},
		{"bad nats url", "nats:\n  url: localhost\n", "agent.yaml:2: nats.url"},
		{"bad account", "account_id: \"12-34\"\n", "agent.yaml:1: account_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("agent.yaml", []byte(tc.in))
			if err == nil {
				t.Fatal("no error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("not a config.Error: %T %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want %q", err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(p, []byte("output: none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := Load(p); err != nil || cfg.Output != "none" {
		t.Fatalf("%v %+v", err, cfg)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing explicit file accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("output: stdout\nevents: [exec]\n"))
	f.Add([]byte("process_tree:\n  exit_grace: 1s\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Parse("f.yaml", b)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Parse accepted an invalid config: %v", verr)
			}
		}
	})
}

func TestEnvOverrides(t *testing.T) {
	cfg := Default()
	err := cfg.ApplyEnv([]string{"VIGIL_NATS_URL=nats://10.0.0.5:4222", "VIGIL_ENV=prod", "PATH=/bin", "VIGIL_TELEMETRY=full"})
	if err != nil || cfg.NATS.URL != "nats://10.0.0.5:4222" || cfg.Env != "prod" || cfg.Telemetry != "full" {
		t.Fatalf("%v %+v", err, cfg.NATS)
	}
	if err := cfg.ApplyEnv([]string{"VIGIL_ENV=has space"}); err == nil {
		t.Error("a bad env override was accepted")
	}
	if cfg.SpoolDir() != "/var/lib/vigil/spool" {
		t.Errorf("spool dir %q", cfg.SpoolDir())
	}
}

// Validation messages name the key once (they used to say "env: env: ...").
func TestMessagesNameTheKeyOnce(t *testing.T) {
	_, err := Parse("agent.yaml", []byte("env: \"a.b\"\n"))
	if err == nil || strings.Count(err.Error(), "env:") != 1 {
		t.Errorf("%v", err)
	}
}

// An environment override's error names the variable and the key, once.
func TestEnvOverrideErrorNamesTheVariable(t *testing.T) {
	c := Default()
	err := c.ApplyEnv([]string{"VIGIL_ENV=a.b", "VIGIL_LOG_LEVEL=info"})
	if err == nil || err.Error() != `environment variable VIGIL_ENV (env): "a.b" must be a subject token: letters, digits, - and _` {
		t.Errorf("%v", err)
	}
	c = Default()
	if err := c.ApplyEnv([]string{"VIGIL_SPOOL_DIR=relative"}); err == nil || !strings.Contains(err.Error(), "VIGIL_SPOOL_DIR (spool.dir)") {
		t.Errorf("%v", err)
	}
}

// Oversized files and huge mappings are refused quickly, with the file and
// line (40,000 tags took 9 s to parse).
func TestSizeLimits(t *testing.T) {
	big := append([]byte("log_level: info\n# "), make([]byte, MaxFileBytes)...)
	if _, err := Parse("agent.yaml", big); err == nil || !strings.Contains(err.Error(), "agent.yaml: larger than") {
		t.Errorf("big file: %v", err)
	}
	var b strings.Builder
	b.WriteString("env: prod\ntags:\n")
	for i := 0; i < 40000; i++ {
		fmt.Fprintf(&b, "  k%d: v\n", i)
	}
	_, err := Parse("agent.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "agent.yaml:3: a mapping of more than") {
		t.Errorf("40k tags: %v", err)
	}
	b.Reset()
	b.WriteString("tags:\n")
	for i := 0; i < MaxTags+1; i++ {
		fmt.Fprintf(&b, "  k%d: v\n", i)
	}
	if _, err := Parse("agent.yaml", []byte(b.String())); err == nil || !strings.Contains(err.Error(), "agent.yaml:1: tags: at most") {
		t.Errorf("65 tags: %v", err)
	}
}

func TestNetworkPolicy(t *testing.T) {
	c := Default()
	c.NATS.URL = "nats://nats.internal:4222, tls://10.0.0.9:4222"
	lookup := func(h string) ([]string, error) {
		if h == "nats.internal" {
			return []string{"10.0.0.7", "fd00::7"}, nil
		}
		return nil, errors.New("no such host")
	}
	got, err := NetworkPolicy(c, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "IPAddressDeny=any\nIPAddressAllow=10.0.0.7 10.0.0.9 169.254.169.254 fd00::7 localhost\n") {
		t.Errorf("%s", got)
	}
	c.NATS.URL = "nats://nowhere:4222"
	if _, err := NetworkPolicy(c, lookup); err == nil || !strings.Contains(err.Error(), "resolve nowhere") {
		t.Errorf("unresolvable: %v", err)
	}
	c.NATS.URL = ""
	if got, _ := NetworkPolicy(c, lookup); !strings.Contains(got, "IPAddressAllow=localhost\n") {
		t.Errorf("no delivery: %s", got)
	}
}

// The packaged agent.yaml shows the built-in defaults (one source for each
// default): parsed, it is Default() but for output, which the package sets
// to none so the journal gets JSON alerts.
func TestPackagedFileShowsTheDefaults(t *testing.T) {
	b, err := os.ReadFile("../../packaging/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse("packaging/agent.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Output = "none"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("packaging/agent.yaml differs from Default():\n got %+v\nwant %+v", got, want)
	}
}
