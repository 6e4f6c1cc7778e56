// Package wire names what travels over NATS, as plain values shared by the
// agent's transport and the backend: subjects (which carry the join keys),
// the streams' specifications, and message ids. It imports no NATS client:
// the owners of nats.go and nats-server turn these into their own types.
package wire

import (
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
	"time"
)

// Prefix starts every Vigil subject.
const Prefix = "vigil"

// Kind is the third token of a subject: what the message is.
type Kind string

// Kinds of agent messages.
const (
	KindAlert     Kind = "alert"
	KindEvent     Kind = "event"
	KindHeartbeat Kind = "hb"
)

// Subject builds vigil.<env>.<kind>.<key>; key is the host id for agent
// messages. env and key are subject tokens (config validates them).
func Subject(env string, kind Kind, key string) string {
	return Prefix + "." + env + "." + string(kind) + "." + key
}

// AnyHost is the subject filter for one kind from every environment and
// host: vigil.*.<kind>.*.
func AnyHost(kind Kind) string { return Subject("*", kind, "*") }

// HostPermissions are the subjects a host's credential may publish: its
// own alerts, events and heartbeats.
func HostPermissions(env, hostID string) []string {
	return []string{Subject(env, "*", hostID)}
}

// Storage of a stream.
type Storage string

// Storages.
const (
	FileStorage   Storage = "file"
	MemoryStorage Storage = "memory"
)

// StreamSpec is a JetStream stream as plain values.
type StreamSpec struct {
	Name     string
	Subjects []string
	Storage  Storage
	// Duplicates is the window in which a message id is published once.
	Duplicates time.Duration
	MaxAge     time.Duration
	MaxBytes   int64 // 0: unbounded
	Replicas   int   // 0: the server's default (1)
	// Transform, when set, rewrites the subjects of messages as they are
	// stored (nats-server 2.10 or later): the correlation's partitions.
	Transform *Transform
}

// Transform is a stream subject transform: From (a subset of the stream's
// subjects) is stored as To.
type Transform struct{ From, To string }

// DefaultAgentStream is the stream agents deliver to unless configured.
const DefaultAgentStream = "VIGIL"

// AgentStream is where agents' alerts, events and heartbeats are stored:
// on disk, a 20-minute duplicate window (the message id of a resent alert)
// and a week of retention.
func AgentStream(name string) StreamSpec {
	if name == "" {
		name = DefaultAgentStream
	}
	return StreamSpec{
		Name:       name,
		Subjects:   []string{AnyHost(KindAlert), AnyHost(KindEvent), AnyHost(KindHeartbeat)},
		Storage:    FileStorage,
		Duplicates: 20 * time.Minute,
		MaxAge:     7 * 24 * time.Hour,
	}
}

// AlertMsgID is the Nats-Msg-Id of an alert: its id, stable across resends.
func AlertMsgID(alertID string) string { return alertID }

// EventMsgID is the Nats-Msg-Id of an event: event ids are unique per host.
func EventMsgID(hostID, eventID string) string { return hostID + "-" + eventID }

// ParseSubject splits a Vigil subject into env, kind and key; ok is false
// for anything else.
func ParseSubject(s string) (env string, kind Kind, key string, ok bool) {
	parts := strings.SplitN(s, ".", 4)
	if len(parts) != 4 || parts[0] != Prefix || parts[1] == "" || parts[2] == "" || parts[3] == "" {
		return "", "", "", false
	}
	return parts[1], Kind(parts[2]), parts[3], true
}

// Kinds of backend messages: vigil.<env>.cloud.<source>.<account or
// cluster> and vigil.<env>.detection.<source>.<key>.
const (
	KindCloud     Kind = "cloud"
	KindDetection Kind = "detection"
	KindThreat    Kind = "threat"
)

// SourceSubject builds vigil.<env>.<kind>.<source>.<key> for cloud records
// and detections: the source and its join key (account, cluster, host) are
// subject tokens, so consumers filter and partition without decoding.
func SourceSubject(env string, kind Kind, source, key string) string {
	return Prefix + "." + env + "." + string(kind) + "." + source + "." + key
}

// Streams and buckets of the backend.
const (
	CloudStream            = "VIGIL_CLOUD"
	DetectionStream        = "VIGIL_DETECTIONS"
	TokenBucket            = "vigil_tokens"
	IngestBucket           = "vigil_ingest_offsets"
	ThreatBucket           = "vigil_threats"
	LeaseBucket            = "vigil_leases"
	SessionBucket          = "vigil_sessions"
	CorrelateConsumer      = "correlate"
	CorrelateCloudConsumer = "correlate-cloud"
	CloudConsumer          = "detect-cloud"
	RuntimeConsumer        = "detect-runtime"
	// RouteBucket remembers, per output and threat, what was sent (the
	// revision, the severity and status, a Slack thread).
	RouteBucket = "vigil_routes"
	// DeadLetterStream keeps the notifications receivers refused for good.
	DeadLetterStream = "VIGIL_DEADLETTER"
)

// KindDeadLetter: vigil.<env>.deadletter.<output>.
const KindDeadLetter Kind = "deadletter"

// ThreatKVStream is the stream behind the threats' KV bucket, and
// ThreatKVSubjects its subjects: outputs consume threat revisions from it.
const (
	ThreatKVStream   = "KV_" + ThreatBucket
	ThreatKVSubjects = "$KV." + ThreatBucket + ".>"
)

// RouteConsumer is the durable consumer of an output (kind "threats" or
// "detections").
func RouteConsumer(output, kind string) string { return "route-" + output + "-" + kind }

// DeadLetterStreamSpec keeps dead letters for maxAge (a month by default).
func DeadLetterStreamSpec(maxAge time.Duration, maxBytes int64, replicas int) StreamSpec {
	return StreamSpec{Name: DeadLetterStream, Subjects: []string{Prefix + ".*." + string(KindDeadLetter) + ".*"}, Storage: FileStorage,
		Duplicates: min(24*time.Hour, maxAge), MaxAge: maxAge, MaxBytes: maxBytes, Replicas: replicas}
}

// CloudStreamSpec stores ingested cloud records, deduplicated on their
// source ids (eventID, auditID/stage, a flow line's hash) for a day, so a
// file ingested again within that window stores nothing twice.
// With partitions > 1 the stream adds the partition of the record's key
// to its subject (see Partitioned).
func CloudStreamSpec(maxAge time.Duration, maxBytes int64, replicas, partitions int) StreamSpec {
	return StreamSpec{Name: CloudStream, Subjects: []string{Prefix + ".*." + string(KindCloud) + ".>"}, Storage: FileStorage,
		Duplicates: min(24*time.Hour, maxAge), MaxAge: maxAge, MaxBytes: maxBytes, Replicas: replicas,
		Transform: Partitioned(KindCloud, partitions)}
}

// DetectionStreamSpec stores detections of every source, deduplicated on
// the detection id, partitioned like the cloud records.
func DetectionStreamSpec(maxAge time.Duration, maxBytes int64, replicas, partitions int) StreamSpec {
	return StreamSpec{Name: DetectionStream, Subjects: []string{Prefix + ".*." + string(KindDetection) + ".>"}, Storage: FileStorage,
		Duplicates: min(24*time.Hour, maxAge), MaxAge: maxAge, MaxBytes: maxBytes, Replicas: replicas,
		Transform: Partitioned(KindDetection, partitions)}
}

// Partitioned is the transform that stores vigil.<env>.<kind>.<source>.<key>
// as vigil.<env>.<kind>.<source>.<key>.<partition>, the partition being
// the server's hash of the key (PartitionOf) modulo n: the correlation's
// consumers are partitioned by that last token, so everything about one
// key (an account, a cluster, a host) has one owner. None for n <= 1.
func Partitioned(kind Kind, n int) *Transform {
	if n <= 1 {
		return nil
	}
	return &Transform{From: Prefix + ".*." + string(kind) + ".*.*",
		To: fmt.Sprintf("%s.{{wildcard(1)}}.%s.{{wildcard(2)}}.{{wildcard(3)}}.{{partition(%d,3)}}", Prefix, kind, n)}
}

// PartitionFilter is the subject filter of partition k of n (of every
// message when n <= 1).
func PartitionFilter(kind Kind, k, n int) string {
	if n <= 1 {
		return Prefix + ".*." + string(kind) + ".*.*"
	}
	return fmt.Sprintf("%s.*.%s.*.*.%d", Prefix, kind, k)
}

// PartitionOf is the partition of a subject key among n, as nats-server's
// partition() mapping computes it (FNV-1a, 32 bits).
func PartitionOf(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// RedactURL hides the secrets of NATS server URLs (a comma-separated list):
// a password, or a user name standing alone (NATS reads it as a token).
func RedactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			if strings.Contains(p, "@") {
				parts[i] = "(unparsable URL with credentials)"
			}
			continue
		}
		if u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		} else {
			u.User = url.User("REDACTED")
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
