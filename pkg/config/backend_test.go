package config

import (
	"os"
	"reflect"
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
		"public anonymous":   {"nats:\n  listen: 0.0.0.0:4222\nenrollment:\n  enabled: false\n", "backend.yaml:2: nats.listen"},
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
		"credential ttl":     {"enrollment:\n  credential_ttl: 5s\n", "backend.yaml:2: enrollment.credential_ttl"},
	} {
		_, err := ParseBackend("backend.yaml", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// A public listener with enrollment (the default) or NKey users is
	// fine; so is an explicit choice.
	if c, err := ParseBackend("b", []byte("nats:\n  listen: 0.0.0.0:4222\n")); err != nil || c.Anonymous() || c.IssuerSeedPath() != "/var/lib/vigil/backend/issuer.nk" {
		t.Errorf("public listener with enrollment: %v anonymous=%v issuer=%q", err, c.Anonymous(), c.IssuerSeedPath())
	}
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
	f.Add([]byte("outputs:\n  - {name: a, type: syslog, network: udp, address: \"x:1\"}\nroutes:\n  - {name: r, outputs: [a], match: {severity: high}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseBackend("f", b)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("accepted a config that does not validate: %v", verr)
			}
		}
	})
}

func TestBackendOutputsAndRoutes(t *testing.T) {
	good := `outputs:
  - {name: soc, type: webhook, url: "https://soc.example.com/hook", secret_file: /etc/vigil/soc.key, format: ocsf}
  - {name: chat, type: slack, url: "https://hooks.slack.com/services/x"}
  - {name: page, type: pagerduty, routing_key_file: /etc/vigil/pd.key}
  - {name: siem, type: syslog, network: tls, address: "siem:6514", facility: local3}
  - {name: archive, type: file, path: /var/log/vigil/threats.jsonl, max_bytes: 10485760, max_files: 3}
routes:
  - {name: page-high, match: {severity: high, sources: [runtime]}, outputs: [page, chat], rate_limit: {count: 10, per: 1m}}
  - {name: all, kind: detections, outputs: [siem, archive], default: true}
routing:
  quiet_period: 2m
`
	c, err := ParseBackend("backend.yaml", []byte(good))
	if err != nil || len(c.Outputs) != 5 || len(c.Routes) != 2 || c.Routing.QuietPeriod.Minutes() != 2 || c.Routing.RetryMax.Minutes() != 5 {
		t.Fatalf("%v %+v", err, c.Routing)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"type":          {"outputs:\n  - {name: a, type: kafka}\n", "backend.yaml:2: outputs.0.type"},
		"name":          {"outputs:\n  - {name: a.b, type: file, path: /x}\n", "outputs.0.name"},
		"twice":         {"outputs:\n  - {name: a, type: file, path: /x}\n  - {name: a, type: file, path: /y}\n", "backend.yaml:3: outputs.1.name"},
		"webhook url":   {"outputs:\n  - {name: a, type: webhook, url: ftp://x}\n", "outputs.0.url"},
		"no key":        {"outputs:\n  - {name: a, type: pagerduty}\n", "outputs.0.routing_key_file"},
		"relative":      {"outputs:\n  - {name: a, type: file, path: x.jsonl}\n", "outputs.0.path"},
		"syslog net":    {"outputs:\n  - {name: a, type: syslog, network: quic, address: 'x:1'}\n", "outputs.0.network"},
		"facility":      {"outputs:\n  - {name: a, type: syslog, network: udp, address: 'x:1', facility: local9}\n", "outputs.0.facility"},
		"slack format":  {"outputs:\n  - {name: a, type: slack, url: 'https://x', format: ocsf}\n", "outputs.0.format"},
		"slack channel": {"outputs:\n  - {name: a, type: slack, token_file: /k}\n", "outputs.0.channel"},
		"route output":  {"outputs:\n  - {name: a, type: file, path: /x}\nroutes:\n  - {name: r, outputs: [b]}\n", "backend.yaml:4: routes.0.outputs.0"},
		"route sev":     {"outputs:\n  - {name: a, type: file, path: /x}\nroutes:\n  - {name: r, outputs: [a], match: {severity: urgent}}\n", "routes.0.match.severity"},
		"route kind":    {"outputs:\n  - {name: a, type: file, path: /x}\nroutes:\n  - {name: r, kind: alerts, outputs: [a]}\n", "routes.0.kind"},
		"two defaults":  {"outputs:\n  - {name: a, type: file, path: /x}\nroutes:\n  - {name: r, default: true, outputs: [a]}\n  - {name: s, default: true, outputs: [a]}\n", "routes.1.default"},
		"rate":          {"outputs:\n  - {name: a, type: file, path: /x}\nroutes:\n  - {name: r, outputs: [a], rate_limit: {count: 0, per: 1m}}\n", "routes.0.rate_limit"},
		"source":        {"outputs:\n  - {name: a, type: file, path: /x}\nroutes:\n  - {name: r, outputs: [a], match: {sources: [s3]}}\n", "routes.0.match.sources.0"},
		"pattern":       {"outputs:\n  - {name: a, type: file, path: /x}\nroutes:\n  - {name: r, outputs: [a], match: {rules: ['[']}}\n", "routes.0.match.rules.0"},
		"quiet":         {"routing:\n  quiet_period: 48h\n", "routing.quiet_period"},
		"ui url":        {"routing:\n  ui_url: vigil.example.com\n", "routing.ui_url"},
	} {
		_, err := ParseBackend("backend.yaml", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if FacilityCode("local7") != 23 || FacilityCode("auth") != 4 || FacilityCode("") != 16 || FacilityCode("local07") != -1 {
		t.Error("facility codes")
	}
}

// The packaged backend.yaml states the defaults, outputs and routes
// included (as empty lists), and parses.
func TestPackagedBackendConfigIsTheDefaults(t *testing.T) {
	b, err := os.ReadFile("../../packaging/backend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseBackend("packaging/backend.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	// Empty lists in the file are nil in Default().
	if len(got.Outputs)+len(got.Routes)+len(got.UI.Users)+len(got.Correlation.CrownJewels)+len(got.Correlation.ClusterAccounts) != 0 {
		t.Fatalf("the packaged file configures something: %+v", got)
	}
	got.Outputs, got.Routes, got.UI.Users, got.Correlation.CrownJewels, got.Correlation.ClusterAccounts = nil, nil, nil, nil, nil
	if want := DefaultBackend(); !reflect.DeepEqual(got, want) {
		t.Errorf("packaging/backend.yaml differs from DefaultBackend():\n got %+v\nwant %+v", got, want)
	}
}
