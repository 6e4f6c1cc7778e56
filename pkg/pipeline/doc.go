// Package pipeline holds the stages between the ring buffer and the outputs:
//
//	ring buffer -> Pump (bounded queue; drops counted per type; never blocks the reader)
//	            -> Consume: event.Decode -> Enricher (process tree) -> Sinks
//
// Pump runs in its own goroutine so the ring-buffer reader is never slowed by
// consumers. The stages after it run in one goroutine over batches (whatever
// the queue holds), so an event costs no goroutine hand-offs. Each stage keeps
// its counters in Stats and none logs per event.
package pipeline
