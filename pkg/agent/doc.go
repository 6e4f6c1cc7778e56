// Package agent wires the sensor, the process tree, the pipeline, the
// outputs and self-monitoring together for `vigil agent`.
package agent
