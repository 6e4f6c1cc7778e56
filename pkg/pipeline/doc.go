// Package pipeline holds the stages between the ring buffer and the outputs.
// Every stage has one shape, stage(ctx, in) -> out, runs in its own
// goroutine, keeps its own counters in Stats, and never logs per event:
//
//	ring buffer -> Pump (bounded queue, drops counted, never blocks the reader)
//	            -> Decode (pure decoder) -> Enrich (process tree) -> sinks
package pipeline
