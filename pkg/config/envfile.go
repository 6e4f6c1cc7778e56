package config

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// DefaultEnvFiles are the systemd EnvironmentFile of the agent unit: the
// deb's and the rpm's.
var DefaultEnvFiles = []string{"/etc/default/vigil", "/etc/sysconfig/vigil"}

// ParseEnvFile reads KEY=VALUE lines the way systemd's EnvironmentFile does
// for the subset Vigil documents: blank lines and lines starting with # or ;
// are skipped, an optional "export " prefix is dropped, and a value wrapped
// in single or double quotes is unquoted. A line without "=" or with an
// invalid key is an error naming the file and line.
func ParseEnvFile(name string, b []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !validEnvKey(k) {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE, got %q", name, n, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out = append(out, k+"="+v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func validEnvKey(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
