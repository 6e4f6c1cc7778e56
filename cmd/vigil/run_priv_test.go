package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// The all-in-one, as a newcomer runs it: `vigil run` starts the backend
// with its embedded NATS and the agent in one process and says where the
// API and the admin token are; a simulated attack through the real agent
// becomes a threat; `vigil threats resolve` resolves it; Ctrl-C stops
// everything cleanly.
func TestRunAllInOne(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	api, natsPort := freePort(t), freePort(t)
	sock := filepath.Join(dir, "agent.sock")
	data := filepath.Join(dir, "backend")
	// Empty configurations: the defaults, as on a fresh machine.
	for _, f := range []string{"agent.yaml", "backend.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "run", "--config", filepath.Join(dir, "agent.yaml"), "--backend-config", filepath.Join(dir, "backend.yaml"),
		"--state-dir", filepath.Join(dir, "state"), "--data-dir", data, "--status-socket", sock,
		"--listen", fmt.Sprintf("127.0.0.1:%d", api), "--nats-listen", fmt.Sprintf("127.0.0.1:%d", natsPort), "--color", "never")
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("stderr:\n%s", tail(stderr.String(), 40))
		}
	})
	waitFor(t, 60*time.Second, func() bool {
		_, err := os.Stat(sock)
		return strings.Contains(stderr.String(), "Vigil is running") && err == nil
	})
	banner := stderr.String()
	token := filepath.Join(data, "admin.token")
	for _, want := range []string{fmt.Sprintf("http://127.0.0.1:%d", api), token, "vigil simulate --all", "Ctrl-C"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner does not say %q:\n%s", want, banner)
		}
	}
	b := &backendProc{api: fmt.Sprintf("http://127.0.0.1:%d", api), token: token, stderr: stderr}
	out, err := exec.Command(bin, "simulate", "dev-tcp", "--socket", sock).CombinedOutput()
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	got := b.waitThreat(t, bin, "Shell redirected through /dev/tcp")
	var th alert.Threat
	for _, x := range got {
		if len(x.Timeline) > 0 {
			th = x
		}
	}
	if !strings.Contains(stdout.String(), "Shell redirected through /dev/tcp") {
		t.Errorf("the alert was not printed:\n%s", tail(stdout.String(), 10))
	}
	out, err = exec.Command(bin, "threats", "resolve", th.ID, "--resolution", "security_test", "--note", "vigil simulate",
		"--api", b.api, "--token-file", token).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "resolved") || !strings.Contains(string(out), "security_test") {
		t.Errorf("threats resolve: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "threats", "resolve", th.ID, "--api", b.api, "--token-file", token).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "resolution") {
		t.Errorf("resolve without a resolution: %v\n%s", err, out)
	}
	// Ctrl-C: the agent stops, then the backend; nothing is left running.
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("vigil run did not stop within 40s of SIGINT")
	}
	t.Logf("stopped %s after SIGINT", time.Since(start).Round(time.Millisecond))
	if _, err := os.Stat(sock); err == nil {
		t.Error("the status socket is left behind")
	}
}
