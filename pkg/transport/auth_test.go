package transport

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"
)

func TestSecretsMustBePrivate(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	p := filepath.Join(t.TempDir(), "host.nk")
	if err := os.WriteFile(p, seed, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (Auth{NKey: p}).Options(); !errors.Is(err, ErrInsecureSecret) {
		t.Fatalf("world-readable seed accepted: %v", err)
	}
	os.Chmod(p, 0o600)
	opts, err := (Auth{NKey: p}).Options()
	if err != nil || len(opts) != 1 {
		t.Fatalf("%v %d", err, len(opts))
	}
	if _, err := (Auth{Cert: "/x.pem"}).Options(); err == nil {
		t.Error("a certificate without key accepted")
	}
	if _, err := (Auth{CA: "/nonexistent/ca.pem"}).Options(); err == nil {
		t.Error("a missing CA accepted")
	}
}
