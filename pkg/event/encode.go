package event

import (
	"encoding/binary"
	"unsafe"
)

// Encode builds a record as the BPF programs write it: the fixed part, then
// each string as a little-endian u16 length and its bytes. It sets Size and
// NStr. It is the inverse of ParseRaw, used by tests, fuzz seeds, benchmarks
// and `vigil` fixtures.
func Encode(raw RawEvent, strs ...[]byte) []byte {
	n := RawEventSize
	for _, s := range strs {
		n += 2 + len(s)
	}
	raw.Hdr.Size = uint32(n)
	raw.Hdr.NStr = uint16(len(strs))
	b := make([]byte, RawEventSize, n)
	*(*RawEvent)(unsafe.Pointer(&b[0])) = raw
	for _, s := range strs {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return b
}
