package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert signs a certificate with ca (self-signed when ca is nil) and
// writes name.pem and name.key.
func writeCert(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: isCA, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	_ = os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

// The embedded listener with mutual TLS: a client with a certificate from
// the configured CA ingests; one without a certificate, or in plain text,
// is refused.
func TestBackendMutualTLS(t *testing.T) {
	bin := backendBin(t)
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil, true)
	writeCert(t, dir, "server", ca, caKey, false)
	writeCert(t, dir, "client", ca, caKey, false)
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
