// Package sensor is the only importer of libbpfgo. It loads the embedded BPF
// object, configures its maps from a Config, attaches the programs the
// configuration needs (reporting and skipping those the kernel refuses, except
// process exec), and hands raw ring-buffer records to the pipeline.
package sensor
