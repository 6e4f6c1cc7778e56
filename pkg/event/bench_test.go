package event

import "testing"

func benchDecode(b *testing.B, rec []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for i := 0; i < b.N; i++ {
		if _, err := Decode(rec, testClock); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeExec(b *testing.B) {
	benchDecode(b, Encode(RawEvent{Hdr: hdr(TypeExec, 0), Args: [6]uint64{3, 1, 2, 0o100755}},
		[]byte("/usr/bin/curl"), []byte("curl\x00-fsSL\x00http://169.254.169.254/latest/meta-data/\x00"), []byte("/root"), []byte("curl")))
}

func BenchmarkDecodeOpen(b *testing.B) {
	benchDecode(b, Encode(RawEvent{Hdr: hdr(TypeOpen, 3), Args: [6]uint64{0x80000}}, []byte("/etc/shadow")))
}

func BenchmarkDecodeConnect(b *testing.B) {
	benchDecode(b, Encode(RawEvent{Hdr: hdr(TypeConnect, 0), Net: RawNetTuple{Family: 2, Proto: 6, Dport: 443, Daddr: [16]byte{10, 0, 0, 1}}}))
}
