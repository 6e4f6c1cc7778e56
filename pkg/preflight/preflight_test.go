package preflight

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseKernelVersion(t *testing.T) {
	for in, want := range map[string][2]int{
		"6.18.44-fc-v669": {6, 18}, "5.10.0-28-amd64": {5, 10}, "5.8": {5, 8}, "4.19rc1": {4, 19}, "": {0, 0}, "x.y": {0, 0},
	} {
		maj, min := ParseKernelVersion(in)
		if maj != want[0] || min != want[1] {
			t.Errorf("%q: %d.%d", in, maj, min)
		}
	}
}

func TestParseLockdown(t *testing.T) {
	for in, want := range map[string]string{
		"none [integrity] confidentiality\n": "integrity",
		"[none] integrity confidentiality":   "none",
		"none integrity [confidentiality]":   "confidentiality",
	} {
		if got := ParseLockdown(in); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
}

func TestParseCapEff(t *testing.T) {
	caps, err := ParseCapEff("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n")
	if err != nil || !HasCap(caps, unix.CAP_BPF) || !HasCap(caps, unix.CAP_SYS_ADMIN) {
		t.Fatalf("%x %v", caps, err)
	}
	caps, _ = ParseCapEff("CapEff:\t0000000000000000\n")
	if HasCap(caps, unix.CAP_BPF) {
		t.Error("empty mask has CAP_BPF")
	}
	if _, err := ParseCapEff("nothing"); err == nil {
		t.Error("missing CapEff accepted")
	}
}
