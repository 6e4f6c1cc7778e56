// Package identity gives the host a stable id and describes it: hostname,
// OS, kernel, agent version, configured environment and tags, and cloud
// metadata (AWS IMDSv2, token first, with short timeouts). The id survives
// restarts and changes when the machine is a clone of another.
package identity
