// Package preflight is `vigil check`: it tells whether this host can run the
// sensor, and why not. Parsers of kernel files are pure; the probes load real
// programs through pkg/sensor.
package preflight
