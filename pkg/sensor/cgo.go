package sensor

// libbpfgo's own directives name only libelf and zlib; libbpf itself, and
// zstd (which libelf's static archive needs), are linked here so that plain
// `go build` and `go test` work, statically or not.

// #cgo LDFLAGS: -lbpf -lelf -lz -lzstd
// #include <malloc.h>
import "C"

// trimCHeap returns the C heap's free pages to the kernel (glibc keeps
// what libbpf freed after a load resident otherwise).
func trimCHeap() { C.malloc_trim(0) }
