// Package pipeline holds the stages between the ring buffer and the outputs:
//
//	ring buffer reader -> Queue (bounded; drops counted per type; Push never blocks)
//	                   -> Consume: event.Decode -> Enricher (process tree) -> Sinks
//
// The ring-buffer reader pushes into the Queue itself, never slowed by
// consumers. The stages after it run in one goroutine over batches
// (whatever the queue holds), so an event costs one goroutine hand-off at
// most. Each stage keeps its counters in Stats and none logs per event.
package pipeline
