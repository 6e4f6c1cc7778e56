package sensor

import (
	"embed"
	"errors"
)

// objects holds what `make bpf` compiled into obj/ (see obj/README.md).
//
//go:embed obj
var objects embed.FS

// Object returns the compiled sensor object (bpf/vigil.bpf.c); empty when
// the binary was built without `make bpf`. It is read from the binary at
// each call, not kept: a resident copy would cost the agent 1.7 MB of heap
// for the one load that needs it.
func Object() []byte { return object("obj/vigil.bpf.o") }

// probeObject returns one tiny program per program type (bpf/probe.bpf.c).
func probeObject() []byte { return object("obj/probe.bpf.o") }

// ErrNoObject is returned when the binary holds no BPF object.
var ErrNoObject = errors.New("no BPF object embedded in this binary (build it with make, which runs make bpf)")

func object(name string) []byte {
	b, _ := objects.ReadFile(name)
	return b
}
