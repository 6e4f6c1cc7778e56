package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// DefaultBackendPath is the backend's configuration file.
const DefaultBackendPath = "/etc/vigil/backend.yaml"

// DefaultBackendDataDir holds the embedded server's JetStream store, the
// admin token and the ingest journal.
const DefaultBackendDataDir = "/var/lib/vigil/backend"

// Backend is the backend's configuration (backend.yaml).
type Backend struct {
	// Env names the deployment; it is the second token of every subject
	// the backend publishes (cloud records, detections).
	Env     string `yaml:"env"`
	DataDir string `yaml:"data_dir"`
	// Listen is the HTTP address of the API and /metrics.
	Listen    string           `yaml:"listen"`
	NATS      BackendNATS      `yaml:"nats"`
	Retention BackendRetention `yaml:"retention"`
	Rules     BackendRules     `yaml:"rules"`
	Ingest    BackendIngest    `yaml:"ingest"`
	// Correlation joins detections into threats.
	Correlation BackendCorrelation `yaml:"correlation"`
	// UI is the investigation UI's logins.
	UI BackendUI `yaml:"ui"`
	// Outputs receive threats (and detections) as routes say; Routing
	// tunes their delivery.
	Outputs []Output `yaml:"outputs"`
	Routes  []Route  `yaml:"routes"`
	Routing Routing  `yaml:"routing"`
	// Enrollment lets agents enroll with a deployment token.
	Enrollment BackendEnrollment `yaml:"enrollment"`
	// ShutdownTimeout bounds a graceful stop (in-flight work is acked or
	// left for redelivery).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// BackendNATS is the bus: the embedded server (default) or an external one.
type BackendNATS struct {
	// URL of an external server or cluster; empty runs the embedded one.
	URL      string `yaml:"url"`
	Creds    string `yaml:"creds"`     // a .creds file (JWT auth)
	NKeySeed string `yaml:"nkey_seed"` // a file holding an NKey user seed
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"` // client certificate (mutual TLS to the external server)
	KeyFile  string `yaml:"key_file"`
	// Listen is where the embedded server accepts agents.
	Listen string     `yaml:"listen"`
	TLS    BackendTLS `yaml:"tls"`
	// Users are NKey users (as `vigil enroll` prints them) allowed on the
	// embedded server's listener.
	Users []NKeyUser `yaml:"users"`
	// AllowAnonymous lets clients without credentials in; by default only
	// when the listener is on loopback and no users are configured.
	AllowAnonymous *bool `yaml:"allow_anonymous"`
	// Replicas of every stream and bucket: 1 embedded, 3 on a cluster.
	Replicas int `yaml:"replicas"`
}

// BackendTLS is the embedded listener's TLS (mutual when CAFile is set).
type BackendTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	CAFile   string `yaml:"ca_file"`
}

// NKeyUser is one NKey identity and what it may use.
type NKeyUser struct {
	NKey      string   `yaml:"nkey" json:"nkey"`
	Publish   []string `yaml:"publish_allow" json:"publish_allow"`
	Subscribe []string `yaml:"subscribe_allow" json:"subscribe_allow"`
	// HostID and Env are what `vigil enroll` prints; they are informative.
	HostID   string `yaml:"host_id" json:"host_id"`
	Env      string `yaml:"env" json:"env"`
	SeedFile string `yaml:"seed_file" json:"seed_file"`
}

// BackendEnrollment is token enrollment: the backend answers nats-server's
// auth callout for every client that is not a configured user, and the
// enrollment requests of agents holding a deployment token.
type BackendEnrollment struct {
	// Enabled (default) serves the callout and enrollment.
	Enabled bool `yaml:"enabled"`
	// IssuerSeed is the account seed (SA...) that signs the hosts'
	// credentials. With the embedded server it defaults to
	// <data_dir>/issuer.nk, created at first start; with an external
	// cluster it must be set (the same file on every instance) and each
	// server trusts its public key (authorization.auth_callout.issuer).
	IssuerSeed string `yaml:"issuer_seed"`
	// CredentialTTL bounds one connection's credential: the server then
	// disconnects it and its reconnection is checked again, so on an
	// external cluster a revoked host is out within it (the embedded server
	// disconnects it at once).
	CredentialTTL time.Duration `yaml:"credential_ttl"`
}

// IssuerSeedPath is the issuer seed file ("" when enrollment cannot run:
// an external server without issuer_seed).
func (c *Backend) IssuerSeedPath() string {
	if !c.Enrollment.Enabled {
		return ""
	}
	if c.Enrollment.IssuerSeed != "" {
		return c.Enrollment.IssuerSeed
	}
	if c.Embedded() {
		return filepath.Join(c.DataDir, "issuer.nk")
	}
	return ""
}

// Limit is a stream's retention.
type Limit struct {
	MaxAge   time.Duration `yaml:"max_age"`
	MaxBytes int64         `yaml:"max_bytes"` // 0: unbounded
}

// BackendRetention bounds each stream.
type BackendRetention struct {
	Agent      Limit `yaml:"agent"`      // the agents' stream (alerts, events, heartbeats)
	Cloud      Limit `yaml:"cloud"`      // ingested cloud records
	Detections Limit `yaml:"detections"` // detections of every source
	// DeadLetters: notifications receivers refused for good.
	DeadLetters Limit `yaml:"dead_letters"`
}

// BackendRules says where cloud rules come from (host rules there are
// ignored by the backend).
type BackendRules struct {
	Builtin bool     `yaml:"builtin"`
	Paths   []string `yaml:"paths"`
}

// BackendIngest configures the drop directories the backend watches.
type BackendIngest struct {
	Dirs         []DropDir     `yaml:"dirs"`
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxBodyBytes bounds one POST /api/v1/ingest request.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// DropDir is a directory of log files of one source.
type DropDir struct {
	Path    string `yaml:"path"`
	Source  string `yaml:"source"`  // cloudtrail, vpcflow or k8saudit
	Format  string `yaml:"format"`  // vpcflow: the field order, when files have no header
	Cluster string `yaml:"cluster"` // k8saudit: the cluster's name (the join key)
}

// BackendCorrelation tunes the joins of detections into threats.
type BackendCorrelation struct {
	// Enabled lets this instance run the correlation: one instance at a
	// time does, elected through a lease.
	Enabled bool `yaml:"enabled"`
	// Window: a detection joins a threat whose event-time span, widened by
	// this on both sides, contains it.
	Window time.Duration `yaml:"window"`
	// Retention: how long entity state and threats stay joinable after
	// their last event.
	Retention time.Duration `yaml:"retention"`
	// CrownJewels are host tags (key=value, or key) that raise a threat.
	CrownJewels []string `yaml:"crown_jewels"`
	// Partitions split the correlation by account (or cluster, or host)
	// among the instances: each partition has one owner at a time. 1 (the
	// default): one instance correlates, the others stand by. More needs
	// nats-server 2.10 or later, and the same value on every instance.
	Partitions int `yaml:"partitions"`
	// ClusterAccounts names the AWS account of each Kubernetes cluster
	// (cluster: account id), so its audit detections are correlated with
	// its nodes' (partitioned by account).
	ClusterAccounts map[string]string `yaml:"cluster_accounts"`
}

// BackendUI configures the investigation UI's logins (API tokens always
// work too).
type BackendUI struct {
	// Users log in with a password, kept as a bcrypt hash
	// (`vigil backend passwd` makes one).
	Users []UIUser `yaml:"users"`
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration `yaml:"session_ttl"`
}

// UIUser is one UI login.
type UIUser struct {
	Name         string `yaml:"name"`
	Role         string `yaml:"role"` // admin or viewer
	PasswordHash string `yaml:"password_hash"`
}

// MaxPartitions bounds correlation.partitions.
const MaxPartitions = 64

// DefaultBackend is the configuration with no file.
func DefaultBackend() Backend {
	return Backend{
		Env: "default", DataDir: DefaultBackendDataDir, Listen: "127.0.0.1:8080",
		NATS: BackendNATS{Listen: "127.0.0.1:4222"},
		Retention: BackendRetention{
			Agent:       Limit{MaxAge: 7 * 24 * time.Hour},
			Cloud:       Limit{MaxAge: 7 * 24 * time.Hour},
			Detections:  Limit{MaxAge: 90 * 24 * time.Hour},
			DeadLetters: Limit{MaxAge: 30 * 24 * time.Hour},
		},
		Rules:           BackendRules{Builtin: true, Paths: []string{"/etc/vigil/rules.d"}},
		Ingest:          BackendIngest{PollInterval: 5 * time.Second, MaxBodyBytes: 64 << 20},
		Correlation:     BackendCorrelation{Enabled: true, Window: time.Hour, Retention: 24 * time.Hour, Partitions: 1},
		UI:              BackendUI{SessionTTL: 12 * time.Hour},
		Routing:         Routing{QuietPeriod: 5 * time.Minute, RetryMax: 5 * time.Minute},
		Enrollment:      BackendEnrollment{Enabled: true, CredentialTTL: time.Hour},
		ShutdownTimeout: 20 * time.Second,
	}
}

// LoadBackend reads a backend configuration over the defaults; a missing
// file at the default path gives the defaults.
func LoadBackend(path string) (Backend, error) {
	b, err := readConfig(path, DefaultBackendPath)
	if err != nil || b == nil {
		return DefaultBackend(), err
	}
	return ParseBackend(path, b)
}

// ParseBackend decodes backend configuration bytes over the defaults and
// validates them; errors name the file and line.
func ParseBackend(name string, b []byte) (Backend, error) {
	cfg := DefaultBackend()
	err := decode(name, b, &cfg, cfg.Validate)
	return cfg, err
}

// Embedded tells whether the backend runs its own NATS server.
func (c *Backend) Embedded() bool { return c.NATS.URL == "" }

// Anonymous tells whether the embedded listener accepts clients without
// credentials.
func (c *Backend) Anonymous() bool {
	if c.NATS.AllowAnonymous != nil {
		return *c.NATS.AllowAnonymous
	}
	return len(c.NATS.Users) == 0 && checkLoopback(c.NATS.Listen) == nil
}

// Validate checks every field.
func (c *Backend) Validate() error {
	if !subjectToken.MatchString(c.Env) {
		return bad("env", "%q must be a subject token: letters, digits, - and _", c.Env)
	}
	if c.DataDir == "" {
		return bad("data_dir", "must be set")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q: %v", c.Listen, err)
	}
	if c.NATS.URL != "" {
		if !strings.Contains(c.NATS.URL, "://") {
			return bad("nats.url", "%q: want nats://host:port (or tls://)", c.NATS.URL)
		}
		if c.NATS.Creds != "" && c.NATS.NKeySeed != "" {
			return bad("nats.creds", "set creds or nkey_seed, not both")
		}
	} else {
		if _, _, err := net.SplitHostPort(c.NATS.Listen); err != nil {
			return bad("nats.listen", "%q: %v", c.NATS.Listen, err)
		}
		if (c.NATS.TLS.CertFile == "") != (c.NATS.TLS.KeyFile == "") {
			return bad("nats.tls", "cert_file and key_file go together")
		}
		for i, u := range c.NATS.Users {
			if !strings.HasPrefix(u.NKey, "U") || len(u.NKey) != 56 {
				return bad(fmt.Sprintf("nats.users.%d.nkey", i), "%q is not an NKey user public key (U..., 56 characters)", u.NKey)
			}
		}
		if checkLoopback(c.NATS.Listen) != nil && len(c.NATS.Users) == 0 && c.NATS.AllowAnonymous == nil && !c.Enrollment.Enabled {
			return bad("nats.listen", "%q is not loopback and no agent can connect: enable enrollment (deployment tokens), add the users `vigil enroll` prints, or set allow_anonymous", c.NATS.Listen)
		}
	}
	if c.Enrollment.Enabled && c.Enrollment.CredentialTTL < time.Minute {
		return bad("enrollment.credential_ttl", "%s: at least 1m", c.Enrollment.CredentialTTL)
	}
	if c.NATS.Replicas < 0 || c.NATS.Replicas > 5 {
		return bad("nats.replicas", "%d: 0 (1 embedded, 3 external) to 5", c.NATS.Replicas)
	}
	if c.Correlation.Window < time.Minute {
		return bad("correlation.window", "%s: at least 1m", c.Correlation.Window)
	}
	if c.Correlation.Retention < c.Correlation.Window || c.Correlation.Retention < 15*time.Minute {
		return bad("correlation.retention", "%s: at least the window and 15m (late records must still join)", c.Correlation.Retention)
	}
	seen := map[string]bool{}
	for i, u := range c.UI.Users {
		key := fmt.Sprintf("ui.users.%d", i)
		switch {
		case u.Name == "" || seen[u.Name]:
			return bad(key+".name", "%q: want a name of its own", u.Name)
		case u.Role != "admin" && u.Role != "viewer":
			return bad(key+".role", "%q: admin or viewer", u.Role)
		case !strings.HasPrefix(u.PasswordHash, "$2") || len(u.PasswordHash) != 60:
			return bad(key+".password_hash", "want a bcrypt hash (vigil backend passwd), not a password")
		}
		seen[u.Name] = true
	}
	if c.UI.SessionTTL < time.Minute || c.UI.SessionTTL > 30*24*time.Hour {
		return bad("ui.session_ttl", "%s: 1m to 720h", c.UI.SessionTTL)
	}
	if c.Correlation.Partitions < 1 || c.Correlation.Partitions > MaxPartitions {
		return bad("correlation.partitions", "%d: 1 to %d", c.Correlation.Partitions, MaxPartitions)
	}
	for cl, acct := range c.Correlation.ClusterAccounts {
		if cl == "" || len(acct) != 12 || strings.Trim(acct, "0123456789") != "" {
			return bad("correlation.cluster_accounts."+cl, "%q: want a 12-digit AWS account id", acct)
		}
	}
	for i, j := range c.Correlation.CrownJewels {
		if k, _, _ := strings.Cut(j, "="); k == "" {
			return bad(fmt.Sprintf("correlation.crown_jewels.%d", i), "%q: want key=value or key", j)
		}
	}
	for name, l := range map[string]Limit{"agent": c.Retention.Agent, "cloud": c.Retention.Cloud, "detections": c.Retention.Detections,
		"dead_letters": c.Retention.DeadLetters} {
		if l.MaxAge < time.Hour {
			return bad("retention."+name+".max_age", "%s: at least 1h", l.MaxAge)
		}
		if l.MaxBytes < 0 {
			return bad("retention."+name+".max_bytes", "must not be negative")
		}
	}
	for i, d := range c.Ingest.Dirs {
		p := fmt.Sprintf("ingest.dirs.%d", i)
		if d.Path == "" {
			return bad(p+".path", "must be set")
		}
		switch d.Source {
		case "cloudtrail", "vpcflow", "k8saudit":
		default:
			return bad(p+".source", "%q: cloudtrail, vpcflow or k8saudit", d.Source)
		}
	}
	if c.Ingest.PollInterval < 100*time.Millisecond {
		return bad("ingest.poll_interval", "%s: at least 100ms", c.Ingest.PollInterval)
	}
	if c.Ingest.MaxBodyBytes < 1<<10 {
		return bad("ingest.max_body_bytes", "at least 1024")
	}
	if err := validateOutputs(c.Outputs, c.Routes, c.Routing); err != nil {
		return err
	}
	if c.ShutdownTimeout < time.Second {
		return bad("shutdown_timeout", "%s: at least 1s", c.ShutdownTimeout)
	}
	return nil
}

// Replicas is the stream replica count to use.
func (c *Backend) Replicas() int {
	if c.NATS.Replicas > 0 {
		return c.NATS.Replicas
	}
	if c.Embedded() {
		return 1
	}
	return 3
}
