// Package rules reads Vigil's rule files (rules, macros and lists, with
// exceptions and overrides), checks them, and compiles their conditions.
// Parsing and compiling are pure: they take bytes and parsed structs, and
// every error names the file and line.
//
// Conditions are expr-lang expressions over the event schema (docs/rules.md).
package rules
