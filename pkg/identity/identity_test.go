package identity

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeMachineID(t *testing.T, root, id string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/machine-id"), []byte(id+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHostIDStableAndCloneDetected(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	writeMachineID(t, root, "0123456789abcdef0123456789abcdef")
	id1, cloned, err := HostID(root, state, "")
	if err != nil || cloned || len(id1) != 20 {
		t.Fatalf("%q %v %v", id1, cloned, err)
	}
	id2, cloned, _ := HostID(root, state, "")
	if id2 != id1 || cloned {
		t.Fatalf("not stable: %q %q", id1, id2)
	}
	// A golden image booted elsewhere: new machine-id, old state directory.
	writeMachineID(t, root, "fedcba9876543210fedcba9876543210")
	id3, cloned, _ := HostID(root, state, "")
	if id3 == id1 || !cloned {
		t.Fatalf("clone not detected: %q %q %v", id1, id3, cloned)
	}
	// The same machine-id on a different cloud instance is a clone too.
	id4, cloned, _ := HostID(root, state, "i-0abc")
	if id4 == id3 || !cloned {
		t.Fatalf("instance change not detected")
	}
	if st, _ := os.Stat(filepath.Join(state, "host-id")); st.Mode().Perm() != 0o600 {
		t.Errorf("host-id mode %v", st.Mode())
	}
	if _, _, err := HostID(t.TempDir(), state, ""); err == nil {
		t.Error("missing machine-id accepted")
	}
}

func TestOSName(t *testing.T) {
	if got := OSName("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("%q", got)
	}
}

// A fake IMDSv2 on loopback: the token is required for every read.
func fakeIMDS(t *testing.T) *httptest.Server {
	const token = "tok-123"
	mux := http.NewServeMux()
	mux.HandleFunc("/latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "bad token request", http.StatusBadRequest)
			return
		}
		w.Write([]byte(token))
	})
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-aws-ec2-metadata-token") != token {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("/latest/dynamic/instance-identity/document", auth(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"instanceId": "i-0123", "accountId": "111122223333", "region": "eu-west-1",
			"availabilityZone": "eu-west-1b", "imageId": "ami-42", "instanceType": "t3.micro", "privateIp": "10.1.2.3"})
	}))
	mux.HandleFunc("/latest/meta-data/public-ipv4", auth(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("203.0.113.7")) }))
	mux.HandleFunc("/latest/meta-data/tags/instance", auth(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("Name\nteam")) }))
	mux.HandleFunc("/latest/meta-data/tags/instance/Name", auth(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("web-1")) }))
	mux.HandleFunc("/latest/meta-data/tags/instance/team", auth(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("payments")) }))
	return httptest.NewServer(mux)
}

func TestAWSFakeIMDSv2(t *testing.T) {
	srv := fakeIMDS(t)
	defer srv.Close()
	c, err := AWS(context.Background(), srv.URL, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.InstanceID != "i-0123" || c.AccountID != "111122223333" || c.Region != "eu-west-1" || c.Zone != "eu-west-1b" ||
		c.ImageID != "ami-42" || c.PrivateIP != "10.1.2.3" || c.PublicIP != "203.0.113.7" || c.Tags["team"] != "payments" {
		t.Errorf("%+v", c)
	}
}

// With nothing listening, start-up is not delayed beyond the budget.
func TestAWSNoIMDSIsQuick(t *testing.T) {
	start := time.Now()
	// A loopback port nobody listens on, and a black-holed one via a
	// server that never answers.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	if _, err := AWS(context.Background(), hang.URL, 300*time.Millisecond); err == nil {
		t.Fatal("a silent IMDS gave metadata")
	}
	if _, err := AWS(context.Background(), "http://127.0.0.1:1", 300*time.Millisecond); err == nil {
		t.Fatal("no IMDS gave metadata")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v with a 300 ms budget each", d)
	}
}
