package sensor

// libbpfgo's own directives name only libelf and zlib; libbpf itself, and
// zstd (which libelf's static archive needs), are linked here so that plain
// `go build` and `go test` work, statically or not.

// #cgo LDFLAGS: -lbpf -lelf -lz -lzstd
import "C"
