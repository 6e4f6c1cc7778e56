package event

import "testing"

// FuzzDecode: a record from the ring buffer is untrusted input (a kernel bug
// or a version skew must not crash the agent). Decode must never panic, and
// a decoded event's strings must come from inside the record.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(RawEvent{Hdr: hdr(TypeExec, 0)}, []byte("/bin/sh"), []byte("sh\x00-c\x00id"), []byte("/"), []byte("sh")))
	f.Add(Encode(RawEvent{Hdr: hdr(TypeOpen, 3)}, []byte("/etc/shadow")))
	f.Add(Encode(RawEvent{Hdr: hdr(TypeDNS, 30)}, dnsQuery(1, 1, "a", "b")))
	f.Add(Encode(RawEvent{Hdr: hdr(TypeRename, 0)}, []byte("/a"), []byte("/b")))
	// An exec's selected environment: entries, one without '=', an empty one.
	f.Add(Encode(RawEvent{Hdr: hdr(TypeExec, 0)}, []byte("/bin/sh"), []byte("sh\x00"), []byte("/"), []byte("sh"),
		[]byte("LD_PRELOAD=/x.so\x00BASH_ENV\x00\x00GLIBC_TUNABLES=a=b")))
	f.Add(Encode(RawEvent{Hdr: hdr(TypeUtimes, 0), Args: [6]uint64{1, 1 << 63, 3}}, []byte("/usr/bin/x")))
	f.Add(Encode(RawEvent{Hdr: hdr(TypeSocket, -97), Args: [6]uint64{30, 5, 0}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b, testClock)
		if err != nil {
			return
		}
		if int(e.Type) == 0 || e.Type >= TypeMax {
			t.Fatalf("decoded invalid type %d", e.Type)
		}
		if e.Exec != nil && e.Exec.Env != nil && len(e.Exec.Env) > len(b) {
			t.Fatalf("%d environment entries from a %d-byte record", len(e.Exec.Env), len(b))
		}
	})
}

// FuzzParseDNSQuery: DNS payloads come from any process on the host.
func FuzzParseDNSQuery(f *testing.F) {
	f.Add(dnsQuery(1, 1, "example", "com"))
	f.Add(dnsQuery(2, 16, "x"))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseDNSQuery(b)
		if err != nil {
			return
		}
		if len(q.Name) > 253*4 {
			t.Fatalf("name too long: %d", len(q.Name))
		}
	})
}
