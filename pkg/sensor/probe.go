package sensor

import (
	"fmt"
	"os"
	"time"

	bpf "github.com/aquasecurity/libbpfgo"
	"golang.org/x/sys/unix"
)

// Feature is the result of loading and attaching one probe program.
type Feature struct {
	Name     string `json:"name"`
	Section  string `json:"section"`
	Loaded   bool   `json:"loaded"`
	Attached bool   `json:"attached"`
	Error    string `json:"error,omitempty"`
	// Required features are those the sensor uses; the others are reported only.
	Required bool `json:"required"`
}

// probePrograms are checked in this order; Required marks those the sensor needs.
var probePrograms = []struct {
	name     string
	required bool
}{
	{"probe_tracepoint", true},
	{"probe_tp_btf", true},
	{"probe_raw_tp", false},
	{"probe_ringbuf", true},
	{"probe_kprobe", false},
	{"probe_fentry", false},
	{"probe_lsm", false},
}

// ProbeFeatures loads and attaches each probe program alone and reports the
// result. The ring buffer probe also checks that a record arrives.
func ProbeFeatures() ([]Feature, error) {
	obj := probeObject()
	if len(obj) == 0 {
		return nil, ErrNoObject
	}
	f, err := memfdObject("vigil-probe.bpf.o", obj)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Feature
	for _, p := range probePrograms {
		out = append(out, probeOne(f, p.name, p.required))
	}
	return out, nil
}

func memfdObject(name string, obj []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(obj); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func probeOne(obj *os.File, name string, required bool) Feature {
	ft := Feature{Name: name, Required: required}
	mod, err := bpf.NewModuleFromFileArgs(bpf.NewModuleArgs{
		BPFObjPath:      fmt.Sprintf("/proc/self/fd/%d", obj.Fd()),
		SkipMemlockBump: true,
	})
	if err != nil {
		ft.Error = "open: " + err.Error()
		return ft
	}
	defer mod.Close()
	it := mod.Iterator()
	var prog *bpf.BPFProg
	for p := it.NextProgram(); p != nil; p = it.NextProgram() {
		_ = p.SetAutoload(p.Name() == name)
		if p.Name() == name {
			prog = p
		}
	}
	if prog == nil {
		ft.Error = "program missing from the probe object"
		return ft
	}
	ft.Section = prog.SectionName()
	if err := mod.BPFLoadObject(); err != nil {
		ft.Error = "load: " + err.Error()
		return ft
	}
	ft.Loaded = true
	var ch chan []byte
	var rb *bpf.RingBuffer
	if name == "probe_ringbuf" {
		ch = make(chan []byte, 16)
		if rb, err = mod.InitRingBuf("probe_ring", ch); err != nil {
			ft.Error = "ring buffer: " + err.Error()
			return ft
		}
		rb.Poll(50)
		defer rb.Close()
	}
	if _, err := prog.AttachGeneric(); err != nil {
		ft.Error = "attach: " + err.Error()
		return ft
	}
	ft.Attached = true
	if ch != nil {
		deadline := time.After(2 * time.Second)
		for {
			unix.Getppid()
			select {
			case <-ch:
				return ft
			case <-deadline:
				ft.Error = "no record arrived through the ring buffer"
				ft.Attached = false
				return ft
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return ft
}
