package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// The all-in-one, as a newcomer runs it: `vigil run` starts the backend
// with its embedded NATS and the agent in one process and says where the
// API and the admin token are; simulated attacks through the real agent
// become a threat; `vigil threats resolve` resolves it; Ctrl-C stops
// everything cleanly. The tour: signed in to the UI with the admin token,
// `vigil simulate --all` in another terminal shows up in the open list
// within seconds, every scenario the kernel allows raises its alerts, and
// the README's screenshots of the threats, threat, host, rules and fleet
// pages come from it.
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
	// Build tools without go and make: this test runs under `go test` and
	// `make test`, and the build-tool exceptions would silence the
	// simulated discovery burst, temporary-directory exec and mass deletion.
	override := filepath.Join(dir, "50-simulate.yaml")
	if err := os.WriteFile(override, []byte("- list: build_tools\n  override: {items: replace}\n  items: [gcc, cc, ld]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--rules", override, "--config", filepath.Join(dir, "agent.yaml"), "--backend-config", filepath.Join(dir, "backend.yaml"),
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
	for _, want := range []string{fmt.Sprintf("http://127.0.0.1:%d", api), token, bin + " simulate --all", "Ctrl-C"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner does not say %q:\n%s", want, banner)
		}
	}
	b := &backendProc{api: fmt.Sprintf("http://127.0.0.1:%d", api), token: token, stderr: stderr}

	// The README's tour: a browser signed in with the admin token, then
	// every scenario of `vigil simulate --all` in another terminal.
	br := newUIBrowser(t, dir, "threats.png", "threat.png", "host.png", "rules.png", "fleet.png")
	br.login(b.api, token)
	started := time.Now()
	simDone := make(chan []byte, 1)
	go func() {
		out, err := exec.Command(bin, "simulate", "--all", "--socket", sock).CombinedOutput()
		if err != nil {
			out = append(out, []byte("\nexit: "+err.Error())...)
		}
		simDone <- out
	}()
	br.must(br.Wait("#threat-rows tr[data-id]"))
	seen := time.Since(started)
	t.Logf("the first threat showed in the open list %s after vigil simulate --all started", seen.Round(10*time.Millisecond))
	if seen > 25*time.Second {
		t.Errorf("the first threat took %s to show in the list", seen.Round(time.Second))
	}
	var simOut []byte
	select {
	case simOut = <-simDone:
	case <-time.After(3 * time.Minute):
		t.Fatal("vigil simulate --all did not finish within 3 minutes")
	}
	// Every scenario the kernel allows raises what it names: the metadata
	// one too (the all-in-one's rules know the simulator's address).
	sum := regexp.MustCompile(`(\d+) passed, (\d+) failed, (\d+) skipped`).FindSubmatch(simOut)
	if sum == nil || string(sum[2]) != "0" || string(sum[1]) == "0" {
		t.Fatalf("vigil simulate --all:\n%s", simOut)
	}
	for _, l := range strings.Split(string(simOut), "\n") {
		if strings.HasPrefix(l, "skipped") && !strings.Contains(l, "kernel-module") {
			t.Errorf("a scenario was skipped: %s", l)
		}
	}
	b.waitThreat(t, bin, "Shell redirected through /dev/tcp", "Instance metadata contacted by an unexpected program", "Reverse shell")
	b.stable(t, bin, 30)
	var th alert.Threat
	for _, x := range b.threats(t, bin) {
		if len(x.Timeline) > len(th.Timeline) {
			th = x
		}
	}
	for _, want := range []string{"Shell redirected through /dev/tcp", "Reverse shell"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the alert %q was not printed:\n%s", want, tail(stdout.String(), 10))
		}
	}
	br.must(br.Reload())
	br.must(br.Wait(fmt.Sprintf(`#threat-rows tr[data-id=%q]`, th.ID)))
	br.shot("threats.png")
	br.must(br.Click(fmt.Sprintf(`#threat-rows tr[data-id=%q] a`, th.ID)))
	br.must(br.Wait("#process-tree .offender"))
	if s := br.text("#timeline"); !strings.Contains(s, "Reverse shell") || !strings.Contains(s, "Shell redirected through /dev/tcp") {
		t.Errorf("timeline %q", s)
	}
	br.shot("threat.png")
	host := ""
	for _, e := range th.Resources {
		if e.Kind == "host" {
			host = e.ID
		}
	}
	br.must(br.Open(b.api + "/#/entity/host/" + host))
	br.must(br.Wait("#entity-detections tbody tr"))
	br.shot("host.png")
	br.must(br.Open(b.api + "/#/rules"))
	br.must(br.Wait(`#rules tr[data-rule="Reverse shell"]`))
	br.shot("rules.png")
	br.must(br.Open(b.api + "/#/fleet"))
	br.must(br.Wait(`#sensor-rows tr[data-status="ok"]`))
	br.shot("fleet.png")
	out, err := exec.Command(bin, "threats", "resolve", th.ID, "--resolution", "security_test", "--note", "vigil simulate",
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
