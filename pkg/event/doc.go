// Package event defines Vigil's event types, the Go mirrors of the records
// the BPF programs write (bpf/vigil.h), and pure decoders from those bytes to
// Event values. Nothing here does I/O.
package event
