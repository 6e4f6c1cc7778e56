// Package host is the runtime (host event) schema of the rule language:
// the condition environment (Env) over pkg/event, the native prefilters,
// output templates, and the kernel filters derived from the rules
// (event types, read- and write-watched prefixes). Compile turns a parsed
// rules.Set into a Ruleset indexed by event type; rules of other sources
// are counted and left to their own schema.
package host
