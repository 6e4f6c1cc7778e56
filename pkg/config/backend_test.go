package config

import (
	"strings"
	"testing"
)

func TestBackendDefaultsAndErrors(t *testing.T) {
	c, err := ParseBackend("backend.yaml", nil)
	if err != nil || !c.Embedded() || !c.Anonymous() || c.Replicas() != 1 || c.NATS.Listen != "127.0.0.1:4222" || c.Listen != "127.0.0.1:8080" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"unknown key":        {"nats:\n  lisen: 1\n", "backend.yaml:2: field lisen not found"},
		"bad env":            {"env: a.b\n", "backend.yaml:1: env"},
		"public anonymous":   {"nats:\n  listen: 0.0.0.0:4222\n", "backend.yaml:2: nats.listen"},
		"bad nkey":           {"nats:\n  users:\n    - nkey: SUABC\n", "nats.users.0.nkey"},
		"bad source":         {"ingest:\n  dirs:\n    - {path: /x, source: s3}\n", "backend.yaml:3: ingest.dirs.0.source"},
		"short retention":    {"retention:\n  cloud:\n    max_age: 1m\n", "backend.yaml:3: retention.cloud.max_age"},
		"creds and nkey":     {"nats:\n  url: nats://x:4222\n  creds: a\n  nkey_seed: b\n", "nats.creds"},
		"url without proto":  {"nats:\n  url: x:4222\n", "nats.url"},
		"short window":       {"correlation:\n  window: 10s\n", "backend.yaml:2: correlation.window"},
		"retention < window": {"correlation:\n  window: 2h\n  retention: 1h\n", "correlation.retention"},
		"bad crown jewel":    {"correlation:\n  crown_jewels: [\"=x\"]\n", "correlation.crown_jewels.0"},
		"partitions":         {"correlation:\n  partitions: 65\n", "correlation.partitions"},
		"ui password":        {"ui:\n  users:\n    - {name: a, role: admin, password_hash: secret}\n", "ui.users.0.password_hash"},
		"ui role":            {"ui:\n  users:\n    - {name: a, role: root, password_hash: x}\n", "ui.users.0.role"},
		"no partitions":      {"correlation:\n  partitions: 0\n", "correlation.partitions"},
		"cluster account":    {"correlation:\n  cluster_accounts: {prod: \"12\"}\n", "correlation.cluster_accounts.prod"},
	} {
		_, err := ParseBackend("backend.yaml", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// A public listener with NKey users is fine; so is an explicit choice.
	if _, err := ParseBackend("b", []byte("nats:\n  listen: 0.0.0.0:4222\n  users:\n    - nkey: UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")); err != nil {
		t.Error(err)
	}
	c, err = ParseBackend("b", []byte("nats:\n  url: nats://a:4222,nats://b:4222\n"))
	if err != nil || c.Embedded() || c.Replicas() != 3 {
		t.Errorf("external: %+v %v", c.NATS, err)
	}
}

func FuzzParseBackend(f *testing.F) {
	f.Add([]byte("env: prod\nnats:\n  listen: 127.0.0.1:4222\ningest:\n  dirs:\n    - {path: /x, source: vpcflow}\n"))
	f.Add([]byte("retention: {cloud: {max_age: 2h}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseBackend("f", b)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("accepted a config that does not validate: %v", verr)
			}
		}
	})
}
