package event

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/testenv"
)

// The event JSON (vigil.event/1, docs/events.md) of decoded records, pinned:
// go test ./pkg/event -update rewrites the files after a deliberate change.
func TestEventJSONGolden(t *testing.T) {
	for name, rec := range map[string][]byte{
		"exec": Encode(RawEvent{Hdr: hdr(TypeExec, 0), Args: [6]uint64{3, 100, 42, 0o104755, 0}},
			[]byte("/usr/bin/passwd"), []byte("passwd\x00-S\x00root\x00"), []byte("/home/u"), []byte("./passwd")),
		// A script started through its shebang, its stdin a pipe.
		"exec-script": Encode(RawEvent{Hdr: func() RawHeader { h := hdr(TypeExec, 0); h.Flags = FlagScript; return h }(),
			Args: [6]uint64{2, 100, 43, 0o100755, 0}, Net: stdioNet(RawExecStdio{Ino: [3]uint64{77, 5, 5}, Kind: [3]uint8{1, 3, 3}})},
			[]byte("/usr/bin/dash"), []byte("/bin/sh\x00./run.sh\x00"), []byte("/tmp/w"), []byte("./run.sh")),
		"open": Encode(RawEvent{Hdr: hdr(TypeOpen, 3), Args: [6]uint64{0x241, 0o600}}, []byte("/etc/cron.d/job")),
		// touch -m -t 200102030000 (the access time left alone)
		"utimes": Encode(RawEvent{Hdr: hdr(TypeUtimes, 0), Args: [6]uint64{0, 981158400, UtimeMTime}}, []byte("/usr/bin/sshd")),
		"mkdir":  Encode(RawEvent{Hdr: hdr(TypeMkdir, 0), Args: [6]uint64{0o755}}, []byte("/dev/.hid")),
		// socket(AF_PACKET, SOCK_RAW|SOCK_CLOEXEC, htons(ETH_P_ALL))
		"socket":  Encode(RawEvent{Hdr: hdr(TypeSocket, 3), Args: [6]uint64{17, 3 | 0o2000000, 0x300}}),
		"connect": Encode(RawEvent{Hdr: hdr(TypeConnect, 0), Net: RawNetTuple{Family: 2, Proto: 6, Dport: 443, Daddr: [16]byte{10, 0, 0, 1}}}),
	} {
		e, err := Decode(rec, testClock)
		if err != nil {
			t.Fatal(err)
		}
		e.Derive()
		got, _ := json.MarshalIndent(e, "", "  ")
		testenv.Golden(t, filepath.Join("testdata", name+".golden.json"), append(got, '\n'))
	}
}

// stdioNet is an exec record's stdio in the place of its net tuple.
func stdioNet(s RawExecStdio) RawNetTuple { return *(*RawNetTuple)(unsafe.Pointer(&s)) }
