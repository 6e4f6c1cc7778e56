package sensor

import (
	"bufio"
	"debug/elf"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/event"
)

// objectFile is what `make bpf` builds and the package embeds.
const objectFile = "obj/vigil.bpf.o"

// Every program in the object must produce a known event type, or the
// loader would never attach it.
func TestProgramsCovered(t *testing.T) {
	testenv.RequireFile(t, objectFile, "make bpf")
	f, err := elf.Open(objectFile)
	if err != nil {
		t.Fatalf("open object (run `make bpf`): %v", err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || elf.ST_BIND(s.Info) != elf.STB_GLOBAL {
			continue
		}
		sec := f.Sections[s.Section].Name
		if !strings.HasPrefix(sec, "tracepoint/") && !strings.HasPrefix(sec, "tp_btf/") {
			continue
		}
		n++
		if _, ok := typeOf(s.Name); !ok {
			t.Errorf("program %s (%s) has no event type in hookTypes", s.Name, sec)
		}
		if strings.HasPrefix(sec, "tracepoint/syscalls/sys_") {
			hook := strings.TrimPrefix(sec, "tracepoint/syscalls/sys_exit_")
			if hookOf(s.Name) != hook {
				t.Errorf("program %s is in section %s", s.Name, sec)
			}
		}
	}
	if n < 50 {
		t.Errorf("only %d programs found", n)
	}
}

func TestMountedIn(t *testing.T) {
	info := `22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw
36 22 0:12 / /sys/kernel/tracing rw,nosuid shared:15 - tracefs tracefs rw
40 22 0:30 / /sys/fs/bpf rw shared:9 - bpf bpf rw,mode=700
`
	for m, want := range map[Mount]bool{Tracefs: true, BPFFS: true, Securityfs: false} {
		if got := mountedIn(bufio.NewScanner(strings.NewReader(info)), m); got != want {
			t.Errorf("%v: %v", m, got)
		}
	}
}

func TestPrefixKey(t *testing.T) {
	k, err := PrefixKey("/etc/")
	if err != nil || k.PrefixLen != 40 || string(k.Data[:5]) != "/etc/" || k.Data[5] != 0 {
		t.Fatalf("%+v %v", k, err)
	}
	if _, err := PrefixKey(""); err == nil {
		t.Error("empty prefix accepted")
	}
	if _, err := PrefixKey("/" + strings.Repeat("a", 64)); err == nil {
		t.Error("over-long prefix accepted")
	}
}

// The prefix tries hold event.MaxPrefixes entries (VIGIL_MAX_PREFIXES), the
// limit config check, lint and reload enforce up front.
func TestPrefixTrieSize(t *testing.T) {
	testenv.RequireFile(t, objectFile, "make bpf")
	spec, err := ebpf.LoadCollectionSpec(objectFile)
	if err != nil {
		t.Fatalf("load object spec (run `make bpf`): %v", err)
	}
	for _, name := range []string{"watched_prefixes", "write_watched_prefixes", "noisy_prefixes"} {
		m, ok := spec.Maps[name]
		if !ok {
			t.Errorf("no map %s", name)
			continue
		}
		if m.MaxEntries != event.MaxPrefixes {
			t.Errorf("%s holds %d entries, event.MaxPrefixes is %d", name, m.MaxEntries, event.MaxPrefixes)
		}
	}
}
