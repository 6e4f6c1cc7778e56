// Package spool is the agent's durable outbox: an append-only, segmented,
// checksummed log on disk. Records are replayed in order until acknowledged;
// acknowledgements and drops are themselves records, so a restart or a crash
// resumes where the agent was. When the spool is over its budget the lowest
// severity goes first and every drop is counted.
//
// Durability: Append returns after write(2), so a crash of the agent loses
// nothing; with SyncInterval the data is fsynced at most that long after it
// was appended (a power loss can lose that window), with SyncAlways before
// Append returns.
package spool
