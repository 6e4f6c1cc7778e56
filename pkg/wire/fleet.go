package wire

// Enrollment and central rules: the subjects, buckets and permissions of
// the fleet (agents enrolled with a deployment token, rule bundles pushed
// from the backend).

const (
	// EnrollSubject is the backend's enrollment service: a request carries
	// a deployment token and the host's public NKey.
	EnrollSubject = Prefix + ".enroll"
	// EnrollUser is the user name an enrolling agent connects with: the
	// auth callout lets it use nothing but EnrollSubject and its inbox.
	EnrollUser = "vigil-enroll"
	// AuthCalloutSubject is where nats-server asks who a client is.
	AuthCalloutSubject = "$SYS.REQ.USER.AUTH"
	// EnrollTokenBucket keeps deployment tokens (hashed) and their uses.
	EnrollTokenBucket = "vigil_enroll_tokens"
	// HostBucket is the enrolled hosts' inventory: host.<id> and nkey.<key>.
	HostBucket = "vigil_hosts"
	// RulesBucket keeps the pushed rule bundles: bundle.<env>.
	RulesBucket = "vigil_rules"
	// RulesKVStream is the stream behind RulesBucket.
	RulesKVStream = "KV_" + RulesBucket
)

// EnrollRequest is what an enrolling agent sends on EnrollSubject (or
// POST /api/v1/enroll): its deployment token and its public NKey.
type EnrollRequest struct {
	Token  string `json:"token"`
	HostID string `json:"host_id"`
	NKey   string `json:"nkey"`
	// Env is the environment the agent is configured for: a token of
	// another environment is refused (the agent would publish where its
	// credential does not allow).
	Env        string `json:"env,omitempty"`
	Hostname   string `json:"hostname,omitempty"`
	InstanceID string `json:"instance_id,omitempty"`
	Version    string `json:"agent_version,omitempty"`
}

// EnrollResponse is the backend's answer: the host's confinement, or why
// it was refused.
type EnrollResponse struct {
	HostID      string   `json:"host_id,omitempty"`
	Env         string   `json:"env,omitempty"`
	InboxPrefix string   `json:"inbox_prefix,omitempty"`
	Publish     []string `json:"publish_allow,omitempty"`
	Error       string   `json:"error,omitempty"`
}

// RulesKey is the key of an environment's bundle in RulesBucket.
func RulesKey(env string) string { return "bundle." + env }

// HostInbox is the inbox prefix of an enrolled host: its credential may
// subscribe below it and nowhere else.
func HostInbox(hostID string) string { return "_INBOX." + hostID }

// EnrollInbox is the inbox prefix of an enrolling agent, named by its
// public key (the only thing known of it yet).
func EnrollInbox(nkey string) string { return "_INBOX.enroll." + nkey }

// RulesReadPermissions are the JetStream API subjects an agent publishes to
// read and watch its environment's bundle and nothing else of the bucket:
// stream info, an ordered consumer on bundle.<env> (its creation names the
// filter), its deletion and flow control.
func RulesReadPermissions(env string) []string {
	return []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO." + RulesKVStream,
		"$JS.API.CONSUMER.CREATE." + RulesKVStream + ".*.$KV." + RulesBucket + "." + RulesKey(env),
		"$JS.API.CONSUMER.DELETE." + RulesKVStream + ".*",
		"$JS.FC." + RulesKVStream + ".>",
	}
}
