// Package status describes the agent's self-monitoring snapshot, serves it on
// a local unix socket for `vigil status`, and exports it as Prometheus metrics.
package status
