// Package transport delivers the agent's alerts and heartbeats to NATS
// JetStream. It is the only importer of nats.go on the agent side.
//
// Every alert goes through the spool first; the publisher sends spooled
// records in order with asynchronous JetStream publishes, each carrying its
// alert id as Nats-Msg-Id, and acknowledges a record in the spool only when
// the stream has acknowledged it. After an outage or a restart the
// unacknowledged records are sent again; the stream's duplicate window makes
// the retries exactly-once in the stream.
package transport
