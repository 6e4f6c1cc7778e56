// Package config holds the agent's configuration: its structs, defaults,
// loading from YAML with file:line errors, and validation. It is the only
// reader of configuration files.
package config
