package event

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/vigil-sec/vigil/internal/testenv"
)

// objectPath is the compiled sensor object (built by `make bpf`).
const objectPath = "../sensor/obj/vigil.bpf.o"

func loadSpec(t *testing.T) *btf.Spec {
	t.Helper()
	testenv.RequireFile(t, objectPath, "make bpf")
	spec, err := btf.LoadSpec(objectPath)
	if err != nil {
		t.Fatalf("load BTF from %s (run `make bpf`): %v", objectPath, err)
	}
	return spec
}

// checkStruct compares a Go mirror's size and every align-tagged field's
// offset and size with the C struct in the object's BTF.
func checkStruct(t *testing.T, spec *btf.Spec, cName string, goType reflect.Type) {
	t.Helper()
	var st *btf.Struct
	if err := spec.TypeByName(cName, &st); err != nil {
		t.Fatalf("struct %s not in BTF: %v", cName, err)
	}
	if uint32(goType.Size()) != st.Size {
		t.Errorf("%s: Go size %d, C size %d", cName, goType.Size(), st.Size)
	}
	members := map[string]btf.Member{}
	for _, m := range st.Members {
		members[m.Name] = m
	}
	seen := map[string]bool{}
	for i := 0; i < goType.NumField(); i++ {
		f := goType.Field(i)
		name := f.Tag.Get("align")
		if name == "" {
			t.Errorf("%s.%s has no align tag", goType.Name(), f.Name)
			continue
		}
		m, ok := members[name]
		if !ok {
			t.Errorf("%s: Go field %s names C member %q, which does not exist", cName, f.Name, name)
			continue
		}
		seen[name] = true
		if got, want := uint32(f.Offset), m.Offset.Bytes(); got != want {
			t.Errorf("%s.%s: Go offset %d, C offset %d", cName, name, got, want)
		}
		size, err := btf.Sizeof(m.Type)
		if err != nil {
			t.Errorf("%s.%s: size: %v", cName, name, err)
			continue
		}
		if int(f.Type.Size()) != size {
			t.Errorf("%s.%s: Go size %d, C size %d", cName, name, f.Type.Size(), size)
		}
	}
	for name := range members {
		if !seen[name] {
			t.Errorf("%s: C member %q has no Go mirror", cName, name)
		}
	}
}

func TestContractBTF(t *testing.T) {
	spec := loadSpec(t)
	checkStruct(t, spec, "event_hdr", reflect.TypeOf(RawHeader{}))
	checkStruct(t, spec, "net_tuple", reflect.TypeOf(RawNetTuple{}))
	checkStruct(t, spec, "exec_stdio", reflect.TypeOf(RawExecStdio{}))
	checkStruct(t, spec, "event", reflect.TypeOf(RawEvent{}))
	checkStruct(t, spec, "prefix_key", reflect.TypeOf(RawPrefixKey{}))
	checkStruct(t, spec, "vigil_config", reflect.TypeOf(RawConfig{}))
}

func enumValues(t *testing.T, spec *btf.Spec, name string) map[string]uint64 {
	t.Helper()
	var en *btf.Enum
	if err := spec.TypeByName(name, &en); err != nil {
		t.Fatalf("enum %s not in BTF: %v", name, err)
	}
	out := map[string]uint64{}
	for _, v := range en.Values {
		out[v.Name] = v.Value
	}
	return out
}

func TestContractEnums(t *testing.T) {
	spec := loadSpec(t)
	types := enumValues(t, spec, "vigil_event_type")
	if got := types["EV_MAX"]; got != uint64(TypeMax) {
		t.Errorf("EV_MAX = %d, TypeMax = %d", got, TypeMax)
	}
	for ty := TypeExec; ty < TypeMax; ty++ {
		cName := "EV_" + strings.ToUpper(ty.String())
		v, ok := types[cName]
		if !ok {
			t.Errorf("Go type %s: no C enumerator %s", ty, cName)
			continue
		}
		if v != uint64(ty) {
			t.Errorf("%s: C %d, Go %d", cName, v, ty)
		}
	}
	flags := enumValues(t, spec, "vigil_event_flags")
	for cName, goVal := range map[string]uint16{
		"EVF_ARGV_TRUNCATED": FlagArgvTruncated, "EVF_PATH_TRUNCATED": FlagPathTruncated,
		"EVF_PATH_RELATIVE": FlagPathRelative, "EVF_PAYLOAD": FlagPayload, "EVF_SCRIPT": FlagScript,
		"EVF_ENV_TRUNCATED": FlagEnvTruncated,
	} {
		if flags[cName] != uint64(goVal) {
			t.Errorf("%s: C %d, Go %d", cName, flags[cName], goVal)
		}
	}
	fds := enumValues(t, spec, "vigil_fd_kind")
	if len(fds) != len(fdKinds) {
		t.Errorf("vigil_fd_kind has %d values, Go names %d", len(fds), len(fdKinds))
	}
	for v, name := range fdKinds {
		if got, ok := fds["FD_"+strings.ToUpper(name)]; !ok || got != uint64(v) {
			t.Errorf("FD_%s: C %d (%v), Go %d", strings.ToUpper(name), got, ok, v)
		}
	}
	utimes := enumValues(t, spec, "vigil_utime_flags")
	if utimes["UTF_ATIME"] != UtimeATime || utimes["UTF_MTIME"] != UtimeMTime || len(utimes) != 2 {
		t.Errorf("vigil_utime_flags %v, Go atime %d mtime %d", utimes, UtimeATime, UtimeMTime)
	}
	kinds := enumValues(t, spec, "vigil_setid_kind")
	for v, name := range setIDNames {
		if kinds["SETID_"+strings.ToUpper(name)] != v {
			t.Errorf("SETID_%s: C %d, Go %d", strings.ToUpper(name), kinds["SETID_"+strings.ToUpper(name)], v)
		}
	}
}
