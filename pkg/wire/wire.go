// Package wire names what travels over NATS, as plain values shared by the
// agent's transport and the backend: subjects (which carry the join keys),
// the streams' specifications, and message ids. It imports no NATS client:
// the owners of nats.go and nats-server turn these into their own types.
package wire

import (
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
}

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
