// Package rules is the rule language's core, the same for every source: YAML
// rule files with lists, macros, exceptions, overrides and disables, every
// error with its file and line, rule paths and the embedded vendor rules.
// It knows no event schema: a rule names its source (runtime by default)
// and its event types by name, and the schema of that source compiles it
// (pkg/rules/host for runtime rules; the backend's for cloud logs).
package rules
