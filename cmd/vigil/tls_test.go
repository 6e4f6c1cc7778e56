package main

import (
	"fmt"
	"github.com/vigil-sec/vigil/internal/testenv"
	"path/filepath"
	"strings"
	"testing"
)

// The embedded listener with mutual TLS: a client with a certificate from
// the configured CA ingests; one without a certificate, or in plain text,
// is refused.
func TestBackendMutualTLS(t *testing.T) {
	bin := backendBin(t)
	dir := t.TempDir()
	ca := testenv.WriteCert(t, dir, "ca", nil, true)
	testenv.WriteCert(t, dir, "server", ca, false)
	testenv.WriteCert(t, dir, "client", ca, false)
	p := func(n string) string { return filepath.Join(dir, n) }
	port := freePort(t)
	conf := fmt.Sprintf("nats:\n  tls: {cert_file: %s, key_file: %s, ca_file: %s}\n", p("server.pem"), p("server.key"), p("ca.pem"))
	b := startBackend(t, bin, filepath.Join(dir, "data"), port, conf)
	url := fmt.Sprintf("tls://127.0.0.1:%d", port)
	file := filepath.Join(stratusDir, "aws.exfiltration.ec2-share-ami.json")
	out, errOut, code := ingestCmd(t, bin, url, "cloudtrail", "--nats-ca", p("ca.pem"), "--nats-cert", p("client.pem"), "--nats-key", p("client.key"), file)
	if code != 0 || !strings.Contains(out, "1 published") {
		t.Fatalf("with a client certificate: %d %s %s", code, out, errOut)
	}
	if _, _, code := ingestCmd(t, bin, url, "cloudtrail", "--nats-ca", p("ca.pem"), file); code == 0 {
		t.Error("a client without a certificate was let in")
	}
	if _, _, code := ingestCmd(t, bin, b.nats, "cloudtrail", file); code == 0 {
		t.Error("a plain-text client was let in")
	}
	if dets := b.stable(t, bin, 1); dets[0]["rule"] != "Snapshot or image shared outside the account" {
		t.Errorf("detections %v", dets)
	}
}
