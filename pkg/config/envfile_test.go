package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	got, err := ParseEnvFile("/etc/default/vigil", []byte(`# comment
; also a comment

VIGIL_NATS_URL=nats://10.0.0.5:4222
export VIGIL_ENV="prod"
VIGIL_NATS_NKEY='/etc/vigil/nats.nk'
EMPTY=
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"VIGIL_NATS_URL=nats://10.0.0.5:4222", "VIGIL_ENV=prod", "VIGIL_NATS_NKEY=/etc/vigil/nats.nk", "EMPTY="}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"VIGIL_ENV prod", "1X=2", "A-B=c"} {
		_, err := ParseEnvFile("/etc/default/vigil", []byte("# ok\n"+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "/etc/default/vigil:2:") {
			t.Errorf("%q: error %v, want one naming line 2", bad, err)
		}
	}
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add([]byte("A=b\n# c\nexport D='e'\n"))
	f.Add([]byte("=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kvs, err := ParseEnvFile("f", b)
		if err != nil {
			return
		}
		for _, kv := range kvs {
			if k, _, ok := strings.Cut(kv, "="); !ok || !validEnvKey(k) {
				t.Fatalf("bad pair %q", kv)
			}
		}
	})
}
