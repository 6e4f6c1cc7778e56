package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigil-sec/vigil/pkg/event"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/wire"
)

var subjectToken = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// streamName is what NATS accepts as a stream name and Vigil documents:
// no whitespace, dots, wildcards or path separators.
var streamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// MaxFileBytes bounds a configuration file; MaxMappingKeys bounds any one
// mapping in it (the YAML decoder checks duplicate keys in quadratic time:
// 40,000 tags took 9 s). MaxTags bounds the host tags.
const (
	MaxFileBytes   = 1 << 20
	MaxMappingKeys = 4096
	MaxTags        = 64
)

// DefaultPath is where packages install the agent's configuration.
const DefaultPath = "/etc/vigil/agent.yaml"

// Agent is the agent's configuration (docs/configuration.md).
type Agent struct {
	// Output is what the agent prints on stdout: "text" (one line per
	// alert, for a person), "json" (one JSON object per alert), "none"
	// (alerts as JSON when Alerts is stdout, as the package logs them to
	// the journal) or "stdout" (the older form: JSON alerts and every
	// event).
	Output string `yaml:"output"`
	// PrintEvents adds every event to the text or json output.
	PrintEvents bool `yaml:"print_events"`
	// Color is auto (when stdout is a terminal and NO_COLOR is unset),
	// always or never, for the text output.
	Color string `yaml:"color"`
	// Events lists the event types to collect; empty means all.
	Events []string `yaml:"events"`
	// WatchedPrefixes: read-opens are reported only under these paths.
	WatchedPrefixes []string `yaml:"watched_prefixes"`
	// NoisyPrefixes: write-opens under these paths are not reported.
	NoisyPrefixes []string `yaml:"noisy_prefixes"`
	// DropFailed drops failed syscalls other than permission denials.
	DropFailed bool `yaml:"drop_failed"`
	// RingBufferBytes is the BPF ring buffer size, a power of two.
	RingBufferBytes int `yaml:"ring_buffer_bytes"`
	// QueueSize bounds the queue between the ring buffer reader and consumers.
	QueueSize int `yaml:"queue_size"`
	// EventDelay is how long an event may wait in the ring buffer while
	// events flow (the reader drains it this often; after a quiet spell up
	// to four times as long). Lower is faster alerts and kill responses,
	// at more CPU on a busy host.
	EventDelay time.Duration `yaml:"event_delay"`
	// StatusSocket is the unix socket `vigil status` reads.
	StatusSocket string `yaml:"status_socket"`
	// MetricsAddress enables Prometheus metrics on a loopback address.
	MetricsAddress string `yaml:"metrics_address"`
	// HostRoot is where /proc and /etc are read (a container's host mount).
	HostRoot string `yaml:"host_root"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// ProcessTree bounds the process tree.
	ProcessTree ProcessTree `yaml:"process_tree"`
	// Collect is "rules" (only what the loaded rules and Events need) or "all".
	Collect string `yaml:"collect"`
	// Alerts is where alerts go besides the pipeline: "stdout" or "none".
	Alerts string `yaml:"alerts"`
	// Rules configures detection.
	Rules Rules `yaml:"rules"`
	// Env names the environment in subjects and alerts (a subject token).
	Env string `yaml:"env"`
	// Tags are host labels attached to alerts and heartbeats.
	Tags map[string]string `yaml:"tags"`
	// StateDir holds the host id and the spool.
	StateDir string `yaml:"state_dir"`
	// NATS is where alerts and heartbeats go; off when URL is empty.
	NATS NATS `yaml:"nats"`
	// Spool is the durable outbox.
	Spool Spool `yaml:"spool"`
	// Telemetry is alerts, context (alerts and their events) or full (every event).
	Telemetry string `yaml:"telemetry"`
	// HeartbeatInterval is how often the agent reports its status.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// IMDS configures the cloud metadata lookup.
	IMDS IMDS `yaml:"imds"`
	// AccountID is the AWS account of a host whose instance metadata
	// cannot say (on-premises, SSM hybrid nodes): the backend correlates
	// it with that account's CloudTrail. Instance metadata wins.
	AccountID string `yaml:"account_id"`
	// DegradedAlertInterval is the shortest time between two "Sensor
	// degraded" alerts; losses in between are summed into the next.
	DegradedAlertInterval time.Duration `yaml:"degraded_alert_interval"`
	// ShutdownTimeout bounds the drain of queued events at SIGTERM (the
	// unit allows 30 s); alerts already raised are spooled regardless.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// NATS configures the connection to the backend's NATS.
type NATS struct {
	URL          string `yaml:"url"`
	Creds        string `yaml:"creds"`
	NKey         string `yaml:"nkey"`
	CA           string `yaml:"ca"`
	Cert         string `yaml:"cert"`
	Key          string `yaml:"key"`
	Stream       string `yaml:"stream"`
	CreateStream bool   `yaml:"create_stream"`
	// EnrollToken is a deployment token (vigil backend token create --kind
	// enroll): without a credential yet, the agent generates its NKey
	// (nkey, default <state_dir>/nats.nk) and enrolls with the backend.
	EnrollToken string `yaml:"enroll_token"`
	// Rules: load the rule bundle pushed for this env (vigil rules push)
	// after the vendor rules and before the local ones (default true).
	Rules *bool `yaml:"central_rules"`
}

// CentralRules tells whether the agent watches the pushed rule bundle.
func (n NATS) CentralRules() bool { return n.URL != "" && (n.Rules == nil || *n.Rules) }

// Spool configures the durable outbox.
type Spool struct {
	Dir      string `yaml:"dir"`
	MaxBytes int64  `yaml:"max_bytes"`
	// Sync is interval (fsync every 100 ms) or always (before each append returns).
	Sync string `yaml:"sync"`
}

// IMDS configures the cloud metadata lookup.
type IMDS struct {
	Enabled  bool          `yaml:"enabled"`
	Endpoint string        `yaml:"endpoint"`
	Timeout  time.Duration `yaml:"timeout"`
}

// Rules configures the detection engine.
type Rules struct {
	// Builtin loads the vendor rules: from VendorDir when it holds rule
	// files, else the copy compiled into the binary.
	Builtin bool `yaml:"builtin"`
	// VendorDir is where packages install the vendor rules.
	VendorDir string `yaml:"vendor_dir"`
	// Paths are rule files or directories loaded after the vendor rules.
	Paths []string `yaml:"paths"`
	// MonitorOnly turns kill actions into alerts.
	MonitorOnly bool `yaml:"monitor_only"`
	// Protect lists executables never killed.
	Protect []string `yaml:"protect"`
	// DedupWindow: the same rule, process and target within it is counted, not repeated.
	DedupWindow time.Duration `yaml:"dedup_window"`
}

// ProcessTree bounds the process tree's memory.
type ProcessTree struct {
	MaxProcesses int           `yaml:"max_processes"`
	ExitGrace    time.Duration `yaml:"exit_grace"`
	MaxAncestors int           `yaml:"max_ancestors"`
	// OCIBundles are where container runtimes keep a container's OCI
	// config ({id}: the container id): its annotations name the
	// Kubernetes pod and namespace.
	OCIBundles []string `yaml:"oci_bundles"`
}

// DefaultOCIBundles: containerd's CRI namespace (k8s.io) and cri-o.
var DefaultOCIBundles = []string{
	"/run/containerd/io.containerd.runtime.v2.task/k8s.io/{id}/config.json",
	"/run/containers/storage/overlay-containers/{id}/userdata/config.json",
}

// DefaultWatchedPrefixes are sensitive files whose reads are reported.
var DefaultWatchedPrefixes = []string{
	"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh/", "/etc/kubernetes/",
	"/root/.ssh/", "/root/.aws/", "/root/.config/gcloud/", "/root/.azure/", "/root/.kube/",
	"/root/.bash_history", "/var/run/secrets/", "/run/secrets/", "/etc/ld.so.preload",
	"/var/lib/kubelet/pki/", "/etc/pam.d/", "/etc/security/",
}

// DefaultNoisyPrefixes are paths whose write-opens are not reported.
var DefaultNoisyPrefixes = []string{
	"/dev/", "/proc/", "/sys/", "/run/systemd/", "/run/user/", "/var/log/journal/",
	"/var/lib/systemd/", "/run/log/journal/",
}

// Default returns the built-in configuration.
func Default() Agent {
	return Agent{
		Output:                "text",
		Color:                 "auto",
		WatchedPrefixes:       append([]string(nil), DefaultWatchedPrefixes...),
		NoisyPrefixes:         append([]string(nil), DefaultNoisyPrefixes...),
		DropFailed:            true,
		RingBufferBytes:       8 << 20,
		QueueSize:             16384,
		EventDelay:            50 * time.Millisecond,
		StatusSocket:          "/run/vigil/agent.sock",
		HostRoot:              "/",
		LogLevel:              "info",
		ProcessTree:           ProcessTree{MaxProcesses: 32768, ExitGrace: 30 * time.Second, MaxAncestors: 8, OCIBundles: DefaultOCIBundles},
		Collect:               "rules",
		Alerts:                "stdout",
		Env:                   "default",
		StateDir:              "/var/lib/vigil",
		NATS:                  NATS{Stream: wire.DefaultAgentStream},
		Spool:                 Spool{MaxBytes: 256 << 20, Sync: "interval"},
		Telemetry:             "alerts",
		HeartbeatInterval:     30 * time.Second,
		IMDS:                  IMDS{Enabled: true, Endpoint: "http://169.254.169.254", Timeout: time.Second},
		DegradedAlertInterval: 5 * time.Minute,
		ShutdownTimeout:       10 * time.Second,
		Rules: Rules{
			Builtin:     true,
			VendorDir:   "/usr/lib/vigil/rules.d",
			Paths:       []string{rules.DefaultLocalDir},
			DedupWindow: time.Minute,
		},
	}
}

// Error is a configuration problem at a place in a file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Load reads a configuration file over the defaults. A missing file at the
// default path gives the defaults; any other missing file is an error.
func Load(path string) (Agent, error) {
	b, err := readConfig(path, DefaultPath)
	if err != nil {
		return Agent{}, err
	}
	if b == nil {
		return Default(), nil
	}
	return Parse(path, b)
}

// readConfig reads a configuration file of at most MaxFileBytes; a missing
// file at its default path is no error and no bytes (the defaults).
func readConfig(path, defaultPath string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && path == defaultPath {
			return nil, nil
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// An Override sets one configuration key from outside the file: an
// environment variable or a flag.
type Override struct {
	// Key is the configuration key path it sets, e.g. "nats.url".
	Key   string
	Apply func(c *Agent, v string)
}

// EnvOverrides: cloud-init and Ansible set these instead of editing the file.
var EnvOverrides = map[string]Override{
	"VIGIL_NATS_URL":     {"nats.url", func(c *Agent, v string) { c.NATS.URL = v }},
	"VIGIL_NATS_CREDS":   {"nats.creds", func(c *Agent, v string) { c.NATS.Creds = v }},
	"VIGIL_NATS_NKEY":    {"nats.nkey", func(c *Agent, v string) { c.NATS.NKey = v }},
	"VIGIL_NATS_CA":      {"nats.ca", func(c *Agent, v string) { c.NATS.CA = v }},
	"VIGIL_ENV":          {"env", func(c *Agent, v string) { c.Env = v }},
	"VIGIL_ENROLL_TOKEN": {"nats.enroll_token", func(c *Agent, v string) { c.NATS.EnrollToken = v }},
	"VIGIL_SPOOL_DIR":    {"spool.dir", func(c *Agent, v string) { c.Spool.Dir = v }},
	"VIGIL_TELEMETRY":    {"telemetry", func(c *Agent, v string) { c.Telemetry = v }},
	"VIGIL_LOG_LEVEL":    {"log_level", func(c *Agent, v string) { c.LogLevel = v }},
}

// ApplyEnv applies VIGIL_* overrides from env (os.Environ's form) and
// validates the result; an error names the variable that set the key.
func (c *Agent) ApplyEnv(env []string) error {
	set := map[string]string{} // key path -> variable
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if o, known := EnvOverrides[k]; ok && known && v != "" {
			o.Apply(c, v)
			set[o.Key] = k
		}
	}
	return c.ValidateOverrides(set, "environment variable ")
}

// ValidateOverrides validates and, when the failing key was set by an
// override, names it: set maps key paths to the variable or flag.
func (c *Agent) ValidateOverrides(set map[string]string, kind string) error {
	err := c.Validate()
	var fe *fieldError
	if errors.As(err, &fe) {
		if name, ok := set[fe.path]; ok {
			return fmt.Errorf("%s%s (%s): %s", kind, name, fe.path, fe.msg)
		}
	}
	return err
}

// Stdout resolves the output keys: the format of stdout, and whether
// alerts and events go there.
func (c *Agent) Stdout() (format string, alerts, events bool) {
	switch c.Output {
	case "text", "json":
		return c.Output, c.Alerts != "none", c.PrintEvents
	case "stdout": // the older form: every event, and the alerts, as JSON
		return "json", c.Alerts != "none", true
	default: // none: alerts as JSON lines when alerts is stdout (the journal)
		return "json", c.Alerts == "stdout", false
	}
}

// SpoolDir is the spool directory (state_dir/spool unless set).
func (c *Agent) SpoolDir() string {
	if c.Spool.Dir != "" {
		return c.Spool.Dir
	}
	return c.StateDir + "/spool"
}

// Parse decodes configuration bytes over the defaults and validates them.
// Errors name the file and line. name is used in messages only.
func Parse(name string, b []byte) (Agent, error) {
	cfg := Default()
	err := decode(name, b, &cfg, cfg.Validate)
	return cfg, err
}

// decode reads YAML b over cfg (unknown keys are errors) and validates it;
// every error names the file and, where it can, the line.
func decode(name string, b []byte, cfg any, validate func() error) error {
	if len(b) > MaxFileBytes {
		return &Error{File: name, Msg: fmt.Sprintf("larger than %d bytes", MaxFileBytes)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return yamlError(name, err)
	}
	if len(bytes.TrimSpace(b)) == 0 || root.Kind == 0 {
		return nil
	}
	if n := bigMapping(&root); n != nil {
		return &Error{File: name, Line: n.Line, Msg: fmt.Sprintf("a mapping of more than %d keys", MaxMappingKeys)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return yamlError(name, err)
	}
	if err := validate(); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return &Error{File: name, Line: lineOf(&root, fe.path), Msg: fe.Error()}
		}
		return &Error{File: name, Msg: err.Error()}
	}
	return nil
}

// bigMapping finds a mapping node with more than MaxMappingKeys keys.
func bigMapping(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.MappingNode && len(n.Content) > 2*MaxMappingKeys {
		return n
	}
	for _, c := range n.Content {
		if b := bigMapping(c); b != nil {
			return b
		}
	}
	return nil
}

// yamlError turns yaml.v3's "yaml: line N: msg" into a file:line error.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			fmt.Sscanf(rest[:i], "%d", &line)
			msg = strings.TrimSpace(rest[i+1:])
		}
	}
	return &Error{File: name, Line: line, Msg: msg}
}

// fieldError is a validation error on a key path such as "process_tree.exit_grace".
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

func bad(path, format string, a ...any) error {
	return &fieldError{path: path, msg: fmt.Sprintf(format, a...)}
}

// lineOf finds the line of a dotted key path in a YAML document.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, key := range strings.Split(path, ".") {
		if n.Kind == yaml.SequenceNode {
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

// Validate checks every field.
func (c *Agent) Validate() error {
	switch c.Output {
	case "text", "json", "none", "stdout":
	default:
		return bad("output", "must be text, json, none or stdout, not %q", c.Output)
	}
	switch c.Color {
	case "auto", "always", "never":
	default:
		return bad("color", "must be auto, always or never, not %q", c.Color)
	}
	for _, name := range c.Events {
		if _, err := event.ParseType(name); err != nil {
			return bad("events", "%v", err)
		}
	}
	for _, list := range []struct {
		key string
		ps  []string
	}{{"watched_prefixes", c.WatchedPrefixes}, {"noisy_prefixes", c.NoisyPrefixes}} {
		if len(list.ps) > 512 {
			return bad(list.key, "at most 512 prefixes")
		}
		for _, p := range list.ps {
			home := list.key == "watched_prefixes" && strings.HasPrefix(p, "~/")
			if (!strings.HasPrefix(p, "/") && !home) || len(p) > event.PrefixKeyLen {
				return bad(list.key, "%q must be an absolute path of at most %d bytes (watched_prefixes: or ~/ for every login user's home)", p, event.PrefixKeyLen)
			}
		}
	}
	rb := c.RingBufferBytes
	if rb < 4096 || rb&(rb-1) != 0 || rb > 1<<30 {
		return bad("ring_buffer_bytes", "must be a power of two between 4096 and 1 GiB, not %d", rb)
	}
	if c.EventDelay < 5*time.Millisecond || c.EventDelay > time.Second {
		return bad("event_delay", "must be between 5ms and 1s, not %s", c.EventDelay)
	}
	if c.QueueSize < 16 || c.QueueSize > 1<<22 {
		return bad("queue_size", "must be between 16 and 4194304, not %d", c.QueueSize)
	}
	if c.StatusSocket != "" && !strings.HasPrefix(c.StatusSocket, "/") {
		return bad("status_socket", "must be an absolute path")
	}
	if !strings.HasPrefix(c.HostRoot, "/") {
		return bad("host_root", "%q must be an absolute path", c.HostRoot)
	}
	if c.Spool.Dir != "" && !strings.HasPrefix(c.Spool.Dir, "/") {
		return bad("spool.dir", "%q must be an absolute path", c.Spool.Dir)
	}
	if c.NATS.Stream != "" && !streamName.MatchString(c.NATS.Stream) {
		return bad("nats.stream", "%q must be a stream name: letters, digits, - and _", c.NATS.Stream)
	}
	if c.IMDS.Timeout <= 0 || c.IMDS.Timeout > time.Minute {
		return bad("imds.timeout", "must be between 1ns and 1m, not %s", c.IMDS.Timeout)
	}
	if c.DegradedAlertInterval < time.Second {
		return bad("degraded_alert_interval", "must be at least 1s, not %s", c.DegradedAlertInterval)
	}
	if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > 25*time.Second {
		return bad("shutdown_timeout", "must be between 1s and 25s (the unit stops it after 30s), not %s", c.ShutdownTimeout)
	}
	if len(c.Tags) > MaxTags {
		return bad("tags", "at most %d tags, not %d", MaxTags, len(c.Tags))
	}
	for k, v := range c.Tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return bad("tags", "tag %.40q: keys are 1 to 128 bytes, values at most 256", k)
		}
	}
	if c.MetricsAddress != "" {
		if err := checkLoopback(c.MetricsAddress); err != nil {
			return bad("metrics_address", "%v", err)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", "must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if !subjectToken.MatchString(c.Env) {
		return bad("env", "%q must be a subject token: letters, digits, - and _", c.Env)
	}
	switch c.Telemetry {
	case "alerts", "context", "full":
	default:
		return bad("telemetry", "must be alerts, context or full, not %q", c.Telemetry)
	}
	switch c.Spool.Sync {
	case "interval", "always":
	default:
		return bad("spool.sync", "must be interval or always, not %q", c.Spool.Sync)
	}
	if c.Spool.MaxBytes < 1<<20 {
		return bad("spool.max_bytes", "must be at least 1 MiB")
	}
	if c.AccountID != "" && (len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "") {
		return bad("account_id", "%q: want a 12-digit AWS account id", c.AccountID)
	}
	if c.HeartbeatInterval < time.Second {
		return bad("heartbeat_interval", "must be at least 1s")
	}
	if c.NATS.URL != "" && !strings.Contains(c.NATS.URL, "://") {
		return bad("nats.url", "%q must look like nats://host:4222 or tls://host:4222", c.NATS.URL)
	}
	if c.NATS.Creds != "" && c.NATS.NKey != "" {
		return bad("nats.creds", "give either creds or nkey, not both")
	}
	if c.NATS.EnrollToken != "" {
		if c.NATS.Creds != "" {
			return bad("nats.enroll_token", "a deployment token enrolls an NKey: remove nats.creds")
		}
		if !strings.HasPrefix(c.NATS.EnrollToken, "vge_") {
			return bad("nats.enroll_token", "not a deployment token (they start with vge_: vigil backend token create --kind enroll)")
		}
		if c.NATS.URL == "" {
			return bad("nats.enroll_token", "needs nats.url (the backend's NATS) to enroll with")
		}
	}
	if !strings.HasPrefix(c.StateDir, "/") {
		return bad("state_dir", "must be an absolute path")
	}
	switch c.Collect {
	case "rules", "all":
	default:
		return bad("collect", "must be rules or all, not %q", c.Collect)
	}
	switch c.Alerts {
	case "stdout", "none":
	default:
		return bad("alerts", "must be stdout or none, not %q", c.Alerts)
	}
	for _, p := range c.Rules.Paths {
		if !strings.HasPrefix(p, "/") {
			return bad("rules.paths", "%q must be an absolute path", p)
		}
	}
	for _, p := range c.Rules.Protect {
		if !strings.HasPrefix(p, "/") {
			return bad("rules.protect", "%q must be an absolute executable path", p)
		}
	}
	if c.Rules.DedupWindow < 0 {
		return bad("rules.dedup_window", "must not be negative")
	}
	if c.ProcessTree.MaxProcesses < 1024 {
		return bad("process_tree.max_processes", "must be at least 1024")
	}
	if c.ProcessTree.ExitGrace < time.Second {
		return bad("process_tree.exit_grace", "must be at least 1s")
	}
	for i, b := range c.ProcessTree.OCIBundles {
		if !strings.HasPrefix(b, "/") || !strings.Contains(b, "{id}") {
			return bad(fmt.Sprintf("process_tree.oci_bundles.%d", i), "%q: an absolute path with {id} for the container id", b)
		}
	}
	if c.ProcessTree.MaxAncestors < 1 || c.ProcessTree.MaxAncestors > 64 {
		return bad("process_tree.max_ancestors", "must be between 1 and 64")
	}
	return nil
}

// EventTypes returns the event types to collect: all with collect: all;
// otherwise those named in events plus those the rules need.
func (c *Agent) EventTypes(ruleTypes []event.Type) []event.Type {
	if c.Collect == "all" {
		return event.AllTypes()
	}
	seen := map[event.Type]bool{}
	var out []event.Type
	add := func(t event.Type) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, n := range c.Events {
		if t, err := event.ParseType(n); err == nil {
			add(t)
		}
	}
	for _, t := range ruleTypes {
		add(t)
	}
	return out
}
