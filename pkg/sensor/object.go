package sensor

import (
	"embed"
	"errors"
)

// objects holds what `make bpf` compiled into obj/ (see obj/README.md).
//
//go:embed obj
var objects embed.FS

// Object is the compiled sensor object (bpf/vigil.bpf.c); empty when the
// binary was built without `make bpf`.
var Object = object("obj/vigil.bpf.o")

// probeObject holds one tiny program per program type (bpf/probe.bpf.c).
var probeObject = object("obj/probe.bpf.o")

// ErrNoObject is returned when the binary holds no BPF object.
var ErrNoObject = errors.New("no BPF object embedded in this binary (build it with make, which runs make bpf)")

func object(name string) []byte {
	b, _ := objects.ReadFile(name)
	return b
}
