package sensor

import _ "embed"

// Object is the compiled BPF object (bpf/vigil.bpf.c), built by `make bpf`.
//
//go:embed vigil.bpf.o
var Object []byte
