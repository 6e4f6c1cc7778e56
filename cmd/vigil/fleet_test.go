package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/vigil-sec/vigil/pkg/rules"
)

// fleetStatus is what the test reads of `vigil status --json`.
type fleetStatus struct {
	HostID string `json:"host_id"`
	Rules  struct {
		Version string
		Bundle  *struct {
			Version, Error, Rejected string
		}
	}
	Transport *struct {
		Connected  bool
		Heartbeats uint64
		LastError  string `json:"last_error"`
		Spool      struct{ Records uint64 }
		Enrollment *struct {
			State, Error string
		}
	}
	RecentAlerts []struct{ Rule string } `json:"recent_alerts"`
}

func readFleetStatus(t *testing.T, bin, sock string) fleetStatus {
	t.Helper()
	var s fleetStatus
	out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
	if err == nil {
		_ = json.Unmarshal(out, &s)
	}
	return s
}

func (s fleetStatus) alerted(rule string) bool {
	for _, a := range s.RecentAlerts {
		if a.Rule == rule {
			return true
		}
	}
	return false
}

func vigilOut(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("vigil %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Token enrollment and central rules, with the real binary: three agents
// holding only a deployment token enroll as three hosts (their instance
// ids differ, as clones of one image do), each confined to its subjects;
// a pushed rule reaches all three within seconds and fires; a broken
// bundle is refused by `vigil rules push` and, written raw to the bucket,
// rejected by the agents, which keep their rules; a revoked host is cut
// off; a revoked token enrolls nothing and says so in `vigil status`,
// while the alerts it raised wait in the spool.
func TestFleetEnrollmentAndRulesPush(t *testing.T) {
	bin := vigilBin(t)
	dir := t.TempDir()
	// An operator NKey user with every permission, to play the attacker
	// and to write a bundle raw into the bucket.
	opKP, _ := nkeys.CreateUser()
	opPub, _ := opKP.PublicKey()
	opSeed, _ := opKP.Seed()
	opSeedFile := filepath.Join(dir, "op.nk")
	if err := os.WriteFile(opSeedFile, opSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	b := startBackend(t, bin, filepath.Join(dir, "data"), port, fmt.Sprintf("env: fleet\nnats:\n  allow_anonymous: false\n  users:\n"+
		"    - {nkey: %s, publish_allow: [\">\"], subscribe_allow: [\">\"]}\n", opPub))
	api := []string{"--api", b.api, "--token-file", b.token}
	tok := vigilOut(t, bin, append([]string{"backend", "token", "create", "--kind", "enroll", "--env", "fleet", "--ttl", "1d", "--name", "asg"}, api...)...)
	tok = tok[strings.LastIndex(tok, "\n")+1:]
	if !strings.HasPrefix(tok, "vge_") {
		t.Fatalf("token %q", tok)
	}
	m := markers(t)
	local := markerRules(t, dir)
	startAgent := func(name, token string) (string, *syncBuffer) {
		ad := filepath.Join(dir, name)
		if err := os.MkdirAll(ad, 0o700); err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf("output: none\nalerts: none\nenv: fleet\nheartbeat_interval: 1s\nstate_dir: %s\n"+
			"imds:\n  endpoint: %s\n  timeout: 2s\nrules:\n  builtin: false\n  paths: [%s]\n  dedup_window: 0s\n"+
			"nats:\n  url: %s\n  enroll_token: %s\n", ad, fakeIMDS(t, "i-"+name, "10.0.0.1"), local, b.nats, token)
		return startConfigured(t, bin, filepath.Join(ad, "agent.yaml"), conf)
	}
	var socks []string
	for _, n := range []string{"a1", "a2", "a3"} {
		sock, _ := startAgent(n, tok)
		socks = append(socks, sock)
	}
	ids := map[string]string{}
	sockOf := map[string]string{}
	for i, sock := range socks {
		waitFor(t, 60*time.Second, func() bool {
			s := readFleetStatus(t, bin, sock)
			if s.Transport == nil || s.Transport.Enrollment == nil || s.Transport.Enrollment.State != "enrolled" || s.Transport.Heartbeats == 0 {
				return false
			}
			ids[s.HostID] = filepath.Join(dir, fmt.Sprintf("a%d", i+1), "nats.nk")
			sockOf[s.HostID] = sock
			return true
		})
		if st, _ := os.Stat(filepath.Join(dir, fmt.Sprintf("a%d", i+1), "nats.nk")); st == nil || st.Mode().Perm() != 0o600 {
			t.Errorf("agent %d: seed missing or not 0600", i+1)
		}
	}
	if len(ids) != 3 {
		t.Fatalf("host ids %v: want 3 distinct", ids)
	}
	var hosts struct {
		Hosts []struct {
			ID string `json:"host_id"`
		}
	}
	_ = json.Unmarshal([]byte(vigilOut(t, bin, append([]string{"backend", "hosts", "list", "--json"}, api...)...)), &hosts)
	if len(hosts.Hosts) != 3 {
		t.Fatalf("inventory %+v", hosts)
	}
	if !strings.Contains(vigilOut(t, bin, append([]string{"backend", "token", "list"}, api...)...), "3") {
		t.Error("token list does not count 3 uses")
	}

	// Confinement: a host publishes only its own subjects; a stranger and
	// an anonymous client are refused.
	var hostIDs []string
	for id := range ids {
		hostIDs = append(hostIDs, id)
	}
	me, other := hostIDs[0], hostIDs[1]
	nk, err := nats.NkeyOptionFromSeed(ids[me])
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(b.nats, nk, nats.CustomInboxPrefix("_INBOX."+me))
	if err != nil {
		t.Fatalf("an enrolled host cannot connect with its own key: %v", err)
	}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err = js.Publish(ctx, "vigil.fleet.hb."+me, []byte(`{}`))
	cancel()
	if err != nil {
		t.Errorf("the host cannot publish on its own subject: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	_, err = js.Publish(ctx, "vigil.fleet.alert."+other, []byte(`{}`))
	cancel()
	if err == nil {
		t.Error("a host published as another host")
	}
	if _, err := nc.SubscribeSync("_INBOX." + other + ".x"); err == nil {
		_ = nc.Flush()
		if e := nc.LastError(); e == nil || !strings.Contains(strings.ToLower(e.Error()), "permission") {
			t.Errorf("a host subscribed to another host's inbox (%v)", e)
		}
	}
	nc.Close()
	strangerKP, _ := nkeys.CreateUser()
	sseed, _ := strangerKP.Seed()
	sfile := filepath.Join(dir, "stranger.nk")
	_ = os.WriteFile(sfile, sseed, 0o600)
	snk, _ := nats.NkeyOptionFromSeed(sfile)
	if c, err := nats.Connect(b.nats, snk); err == nil {
		c.Close()
		t.Error("an unenrolled key was let in")
	}
	if c, err := nats.Connect(b.nats); err == nil {
		c.Close()
		t.Error("an anonymous client was let in")
	}

	// A pushed rule reaches the three agents and fires.
	pushed := filepath.Join(dir, "pushed")
	_ = os.MkdirAll(pushed, 0o755)
	_ = os.WriteFile(filepath.Join(pushed, "fleet.yaml"), []byte("- rule: Pushed marker\n  desc: d\n  events: [exec]\n"+
		"  condition: exec.exe endsWith \"/vigil-mark-low\"\n  output: \"pushed %exec.exe\"\n  severity: medium\n"+
		"  mitre: {tactic: execution, technique: T1204}\n"), 0o644)
	// And a cloud rule in the same bundle, for the backend.
	_ = os.WriteFile(filepath.Join(pushed, "cloud.yaml"), []byte("- rule: Pushed cloud marker\n  source: cloudtrail\n  desc: d\n"+
		"  events: [DeleteResolverQueryLogConfig]\n  condition: ct.event_name == \"DeleteResolverQueryLogConfig\"\n"+
		"  output: \"pushed %ct.event_name\"\n  severity: low\n  mitre: {tactic: defense-evasion, technique: T1562}\n"), 0o644)
	out := vigilOut(t, bin, append([]string{"rules", "push", "--no-builtin", "--env", "fleet", pushed}, api...)...)
	version := strings.Fields(out)[2]
	start := time.Now()
	for _, sock := range socks {
		waitFor(t, 30*time.Second, func() bool {
			s := readFleetStatus(t, bin, sock)
			return s.Rules.Bundle != nil && s.Rules.Bundle.Version == version
		})
	}
	t.Logf("bundle %s running on three agents %s after the push", version, time.Since(start).Round(10*time.Millisecond))
	runN(t, m["low"], 2)
	for _, sock := range socks {
		waitFor(t, 20*time.Second, func() bool { return readFleetStatus(t, bin, sock).alerted("Pushed marker") })
	}
	dets := b.stable(t, bin, 3, "--source", "runtime", "--rule", "Pushed marker")
	if len(dets) < 3 {
		t.Errorf("pushed rule detections %d, want 3 hosts'", len(dets))
	}
	// The backend runs the bundle's cloud rule.
	admin := readToken(t, b.token)
	waitFor(t, 30*time.Second, func() bool {
		_, st := b.call(t, "GET", "/api/v1/status", admin, nil)
		r, _ := st["rules"].(map[string]any)
		bd, _ := r["bundle"].(map[string]any)
		return bd != nil && bd["version"] == version
	})
	trail, err := os.ReadFile(filepath.Join(stratusDir, "aws.defense-evasion.dns-delete-logs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code, resp := b.call(t, "POST", "/api/v1/ingest/cloudtrail", admin, trail); code != 200 {
		t.Fatalf("ingest: %d %v", code, resp)
	}
	if d := b.stable(t, bin, 1, "--source", "cloudtrail", "--rule", "Pushed cloud marker"); len(d) != 1 {
		t.Errorf("the pushed cloud rule: %d detections", len(d))
	}
	sensors := vigilOut(t, bin, append([]string{"sensors"}, api...)...)
	if strings.Count(sensors, version) < 3 {
		t.Errorf("vigil sensors does not show the bundle on three hosts:\n%s", sensors)
	}

	// A broken bundle: refused by `vigil rules push`...
	broken := filepath.Join(dir, "broken")
	_ = os.MkdirAll(broken, 0o755)
	brokenRule := "- rule: Broken\n  desc: d\n  events: [exec]\n  condition: exec.no_such_field == \"x\"\n  output: o\n  severity: low\n  mitre: {tactic: execution, technique: T1204}\n"
	_ = os.WriteFile(filepath.Join(broken, "fleet.yaml"), []byte(brokenRule), 0o644)
	cmd := exec.Command(bin, append([]string{"rules", "push", "--no-builtin", "--env", "fleet", broken}, api...)...)
	if o, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(o), filepath.Join(broken, "fleet.yaml")+":1") || !strings.Contains(string(o), "no_such_field") || !strings.Contains(string(o), "nothing pushed") {
		t.Errorf("a broken bundle was pushed: %v\n%s", err, o)
	}
	// ... and, written raw to the bucket, rejected by the agents.
	onk, _ := nats.NkeyOptionFromSeed(opSeedFile)
	opc, err := nats.Connect(b.nats, onk)
	if err != nil {
		t.Fatal(err)
	}
	defer opc.Close()
	ojs, _ := jetstream.New(opc)
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer bcancel()
	kv, err := ojs.KeyValue(bctx, "vigil_rules")
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := rules.NewBundle("fleet", []rules.BundleFile{{Name: "fleet.yaml", Content: brokenRule}})
	raw, _ := json.Marshal(bad)
	if _, err := kv.Put(bctx, "bundle.fleet", raw); err != nil {
		t.Fatal(err)
	}
	for _, sock := range socks {
		waitFor(t, 30*time.Second, func() bool {
			s := readFleetStatus(t, bin, sock)
			return s.Rules.Bundle != nil && s.Rules.Bundle.Rejected == bad.Version && strings.Contains(s.Rules.Bundle.Error, "no_such_field")
		})
		if s := readFleetStatus(t, bin, sock); s.Rules.Bundle.Version != version {
			t.Errorf("the agent dropped its running bundle: %+v", s.Rules.Bundle)
		}
	}
	waitFor(t, 30*time.Second, func() bool {
		return strings.Contains(vigilOut(t, bin, append([]string{"sensors"}, api...)...), "refused a push")
	})

	// A revoked host is cut off and cannot come back.
	victim := hostIDs[2]
	if o := vigilOut(t, bin, append([]string{"backend", "hosts", "revoke", victim}, api...)...); !strings.Contains(o, "(1 connections closed)") {
		t.Errorf("revoke: %s", o)
	}
	vnk, _ := nats.NkeyOptionFromSeed(ids[victim])
	if c, err := nats.Connect(b.nats, vnk); err == nil {
		c.Close()
		t.Error("a revoked host's key was let in")
	}
	waitFor(t, 30*time.Second, func() bool {
		s := readFleetStatus(t, bin, sockOf[victim])
		return s.Transport != nil && !s.Transport.Connected && strings.Contains(s.Transport.LastError, "refused this host's credential")
	})

	// A revoked token enrolls nothing; the agent says why, and keeps its
	// alerts in the spool.
	var tl struct{ Tokens []struct{ ID string } }
	_ = json.Unmarshal([]byte(vigilOut(t, bin, append([]string{"backend", "token", "list", "--json"}, api...)...)), &tl)
	if len(tl.Tokens) != 1 {
		t.Fatalf("tokens %+v", tl)
	}
	vigilOut(t, bin, append([]string{"backend", "token", "revoke", tl.Tokens[0].ID}, api...)...)
	sock4, _ := startAgent("a4", tok)
	waitFor(t, 30*time.Second, func() bool {
		s := readFleetStatus(t, bin, sock4)
		return s.Transport != nil && s.Transport.Enrollment != nil && s.Transport.Enrollment.State == "refused" &&
			strings.Contains(s.Transport.LastError, "was revoked")
	})
	runN(t, m["high"], 1)
	waitFor(t, 20*time.Second, func() bool { return readFleetStatus(t, bin, sock4).Transport.Spool.Records > 0 })
	if o, _ := exec.Command(bin, "status", "--socket", sock4).CombinedOutput(); !strings.Contains(string(o), "revoked") {
		t.Errorf("vigil status does not say the token was revoked:\n%s", o)
	}
}
