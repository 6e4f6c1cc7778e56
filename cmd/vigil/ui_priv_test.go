package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/browser"
	"github.com/vigil-sec/vigil/internal/receiver"
)

// The investigation UI in headless Chromium against the real backend and
// the real agent: a wrong password is refused; a login sees the threat a
// real scanner run made (its arguments and directory carry script and
// markup, shown as text, never run); the threat's timeline and process tree
// highlight the offending process; resolving it with a note survives a
// reload; the rules page counts the rule's hit; the fleet page shows the
// sensor healthy, then silent once the agent is killed. Screenshots of each page go to $VIGIL_ARTIFACTS (the README's login
// and silent-fleet ones also to docs/img with VIGIL_UPDATE_SCREENSHOTS=1;
// TestRunAllInOne makes the others).
func TestUIInvestigation(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	hashCmd := exec.Command(bin, "backend", "passwd")
	hashCmd.Stdin = strings.NewReader("correct horse battery\n")
	hash, err := hashCmd.Output()
	if err != nil {
		t.Fatalf("backend passwd: %v", err)
	}
	// Two outputs: one takes threats, the other refuses them (dead
	// letters on the fleet page).
	ok, refuser := receiver.NewHTTP(t), receiver.NewHTTP(t)
	refuser.Fail(http.StatusForbidden)
	conf := fmt.Sprintf("ui:\n  users:\n    - {name: alice, role: admin, password_hash: %q}\n", strings.TrimSpace(string(hash))) +
		fmt.Sprintf("outputs:\n  - {name: chat, type: webhook, url: %q}\n  - {name: soc, type: webhook, url: %q}\n"+
			"routes:\n  - {name: all, default: true, outputs: [chat, soc]}\nrouting:\n  quiet_period: 0s\n", ok.URL, refuser.URL)
	b := startBackend(t, bin, filepath.Join(dir, "data"), freePort(t), conf)

	agentConf := fmt.Sprintf("output: none\nalerts: none\nenv: e2e\nheartbeat_interval: 1s\nstate_dir: %s\nimds:\n  enabled: false\n"+
		"rules:\n  dedup_window: 0s\nnats:\n  url: %s\n", dir, b.nats)
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte(agentConf), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command(bin, "agent", "--config", cfg, "--status-socket", sock)
	agent.Stderr = &syncBuffer{}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if agent.ProcessState == nil {
			_ = agent.Process.Kill()
			_ = agent.Wait()
		}
	})
	waitFor(t, 60*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })

	br := newUIBrowser(t, dir, "login.png", "fleet-silent.png")
	must, shot, text, eventually := br.must, br.shot, br.text, br.eventually

	// 1. Log in: a wrong password is refused.
	must(br.Open(b.api + "/"))
	must(br.Wait("#login"))
	shot("login.png")
	must(br.Fill("#user", "alice"))
	must(br.Fill("#password", "wrong password!"))
	must(br.Click("#signin"))
	eventually("the refusal", func() bool {
		s, _ := br.EvalString(`document.getElementById("login-error").textContent`)
		return s != ""
	})
	if s := text("#login-error"); !strings.Contains(s, "wrong user or password") {
		t.Errorf("refusal %q", s)
	}
	must(br.Fill("#password", "correct horse battery"))
	must(br.Click("#signin"))
	must(br.Wait("#threat-rows td.empty"))
	listed := time.Now()

	// 2. The threat the attack makes appears in the open list, pushed
	// (the list's fallback poll is every 30 s).
	// The attack: a scanner from a directory whose name is markup, with a
	// script for arguments.
	weird := filepath.Join(dir, `"><img src=x onerror=window.__xss=1>`)
	if err := os.MkdirAll(weird, 0o755); err != nil {
		t.Fatal(err)
	}
	nmap := fakeTool(t, weird, "nmap")
	const script = `<script>window.__xss=2</script>`
	waitFor(t, 60*time.Second, func() bool {
		_ = exec.Command(nmap, "-sS", script, "127.0.0.1").Run()
		return len(b.detections(t, bin, "--rule", "Network scanner executed")) > 0
	})
	threats := b.waitThreat(t, bin, "Network scanner executed")
	id := threats[0].ID

	must(br.Wait(fmt.Sprintf(`#threat-rows tr[data-id=%q]`, id)))
	if d := time.Since(listed); d > 28*time.Second {
		t.Errorf("the list showed the threat %s after it was opened: not pushed", d.Round(time.Second))
	}
	if s := text("#who"); !strings.Contains(s, "alice (admin)") {
		t.Errorf("who %q", s)
	}
	shot("threats.png")

	// 3. Its timeline and process tree, the scanner highlighted, the
	// markup shown as text.
	must(br.Click(fmt.Sprintf(`#threat-rows tr[data-id=%q] a`, id)))
	must(br.Wait("#process-tree .offender"))
	if s := text("#timeline"); !strings.Contains(s, "Network scanner executed") {
		t.Errorf("timeline %q", s)
	}
	off := text("#process-tree .offender")
	if !strings.Contains(off, "nmap") || !strings.Contains(off, script) || !strings.Contains(off, `"><img src=x onerror=window.__xss=1>`) {
		t.Errorf("offending process %q", off)
	}
	if n, err := br.Count("#main img, #main script"); err != nil || n != 0 {
		t.Errorf("%d img/script elements in the page (%v): markup was rendered", n, err)
	}
	if s, err := br.EvalString(`String(window.__xss)`); err != nil || s != "undefined" {
		t.Errorf("a script ran: window.__xss = %q (%v)", s, err)
	}
	shot("threat.png")

	// 4. Resolve it with a note; a reload shows it resolved.
	must(br.Select("#set-status", "resolved"))
	must(br.Select("#set-resolution", "security_test"))
	must(br.Fill("#set-note", "nmap run by the UI test"))
	must(br.Click("#save-triage"))
	eventually("resolved", func() bool {
		s, _ := br.EvalString(`(document.getElementById("threat-status")||{}).textContent||""`)
		return s == "resolved"
	})
	must(br.Reload())
	if s := text("#threat-status"); s != "resolved" {
		t.Errorf("after a reload: %q", s)
	}
	if s := text("#notes"); !strings.Contains(s, "nmap run by the UI test") || !strings.Contains(s, "alice") {
		t.Errorf("notes %q", s)
	}
	got := b.threats(t, bin)
	for _, th := range got {
		if th.ID == id && (th.Status != "resolved" || th.Resolution != "security_test") {
			t.Errorf("stored %s %s", th.Status, th.Resolution)
		}
	}

	// The detection's page, from the timeline, and the host's page.
	must(br.Click("#timeline tbody a"))
	if s := text("#detection-rule"); s != "Network scanner executed" {
		t.Errorf("detection page %q", s)
	}
	if s := text("#main"); !strings.Contains(s, "Part of") || !strings.Contains(s, script) {
		t.Errorf("detection page says %q", s)
	}
	host := ""
	for _, e := range threats[0].Resources {
		if e.Kind == "host" {
			host = e.ID
		}
	}
	must(br.Open(b.api + "/#/entity/host/" + host))
	must(br.Wait("#entity-detections tbody tr"))
	if n, err := br.Count("#entity-threats tbody tr a"); err != nil || n != 1 {
		t.Errorf("host page: %d threats (%v)", n, err)
	}
	shot("host.png")

	// 5. The rules, with the scanner rule's hit.
	must(br.Open(b.api + "/#/rules"))
	row := `#rules tr[data-rule="Network scanner executed"]`
	must(br.Wait(row))
	if s := text(row + " td:last-child"); s == "0" || s == "" {
		t.Errorf("hits of the scanner rule: %q", s)
	}
	if n, err := br.Count("#rules tbody tr"); err != nil || n < 50 {
		t.Errorf("%d rules listed (%v)", n, err)
	}
	shot("rules.png")

	// 6. The fleet: healthy, with the rule bundle pushed to its env, then
	// silent once the agent is killed.
	pushDir := filepath.Join(dir, "push")
	_ = os.MkdirAll(pushDir, 0o755)
	_ = os.WriteFile(filepath.Join(pushDir, "team.yaml"), []byte("- rule: Team rule\n  desc: d\n  events: [exec]\n"+
		"  condition: exec.exe == \"/nonexistent/team-tool\"\n  output: o\n  severity: low\n  mitre: {tactic: execution, technique: T1204}\n"), 0o644)
	pushOut, err := exec.Command(bin, "rules", "push", "--env", "e2e", "--api", b.api, "--token-file", b.token, pushDir).CombinedOutput()
	if err != nil {
		t.Fatalf("rules push: %v\n%s", err, pushOut)
	}
	bundle := strings.Fields(string(pushOut))[2]
	must(br.Open(b.api + "/#/fleet"))
	must(br.Wait(`#sensor-rows tr[data-status="ok"][data-bundle="` + bundle + `"]`))
	if s := text(`#sensor-rows tr[data-bundle="` + bundle + `"] td.rules`); !strings.Contains(s, "pushed "+bundle) {
		t.Errorf("fleet rules cell %q", s)
	}
	// Its outputs: one healthy, one refusing, with its dead letters.
	must(br.Wait(`#output-rows tr[data-output="chat"][data-healthy="true"]`))
	must(br.Wait(`#output-rows tr[data-output="soc"][data-healthy="false"]`))
	must(br.Wait(`#dead-letter-rows tr[data-output="soc"]`))
	if s := text(`#dead-letter-rows tr[data-output="soc"] td:last-child`); !strings.Contains(s, "403") {
		t.Errorf("dead letter error %q", s)
	}
	if len(ok.Requests()) == 0 {
		t.Error("the healthy output got nothing")
	}
	shot("fleet.png")
	_ = agent.Process.Signal(syscall.SIGKILL)
	_ = agent.Wait()
	eventually("the sensor silent", func() bool { n, _ := br.Count(`#sensor-rows tr[data-status="silent"]`); return n == 1 })
	shot("fleet-silent.png")
	if d := br.Dialogs(); len(d) > 0 {
		t.Errorf("the pages opened dialogs: %v", d)
	}
}

// uiBrowser is headless Chromium for a UI test. Its screenshots go to
// $VIGIL_ARTIFACTS (else the test's directory), named after the test, of
// the whole page; the README's, named when it starts, also go to docs/img
// with VIGIL_UPDATE_SCREENSHOTS=1, of the window (1440x900).
type uiBrowser struct {
	*browser.Browser
	t     *testing.T
	shots string
	docs  []string
}

func newUIBrowser(t *testing.T, dir string, docs ...string) *uiBrowser {
	t.Helper()
	shots := os.Getenv("VIGIL_ARTIFACTS")
	if shots == "" {
		shots = filepath.Join(dir, "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	br, err := browser.Start(filepath.Join(dir, "chromium"))
	if errors.Is(err, browser.ErrMissing) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	u := &uiBrowser{Browser: br, t: t, shots: shots, docs: docs}
	t.Cleanup(br.Close)
	t.Cleanup(func() {
		if t.Failed() {
			_ = br.Screenshot(u.artifact("failure.png"))
			if s, err := br.EvalString(`document.getElementById("main").textContent`); err == nil {
				t.Logf("the page says: %s", s)
			}
		}
	})
	return u
}

func (u *uiBrowser) artifact(name string) string {
	return filepath.Join(u.shots, u.t.Name()+"-"+name)
}

func (u *uiBrowser) must(err error) {
	u.t.Helper()
	if err != nil {
		u.t.Fatal(err)
	}
}

func (u *uiBrowser) shot(name string) {
	u.t.Helper()
	u.must(u.Screenshot(u.artifact(name)))
	if os.Getenv("VIGIL_UPDATE_SCREENSHOTS") != "" && slices.Contains(u.docs, name) {
		u.must(u.ScreenshotView(filepath.Join("..", "..", "docs", "img", name)))
	}
}

func (u *uiBrowser) text(sel string) string {
	u.t.Helper()
	s, err := u.Text(sel)
	u.must(err)
	return s
}

// eventually waits up to 30 s for ok.
func (u *uiBrowser) eventually(what string, ok func() bool) {
	u.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			u.t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// login signs in with an API token and waits for the threats list.
func (u *uiBrowser) login(api, tokenFile string) {
	u.t.Helper()
	tok, err := os.ReadFile(tokenFile)
	u.must(err)
	u.must(u.Open(api + "/"))
	u.must(u.Wait("#login"))
	u.must(u.Fill("#token", strings.TrimSpace(string(tok))))
	u.must(u.Click("#signin"))
	u.must(u.Wait("#threat-rows"))
}
