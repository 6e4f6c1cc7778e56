package cloud

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/rules"
)

func builtinRules(t testing.TB) *Ruleset {
	t.Helper()
	set := rules.NewSet()
	names, content := rules.Builtin()
	for _, n := range names {
		if err := set.Parse(n, content[n]); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := Compile(set)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func detectFile(t testing.TB, d *Detector, path string) []alert.Detection {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, errs := cloudevent.ParseCloudTrail(path, b)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", path, errs)
	}
	var out []alert.Detection
	for i := range recs {
		out = append(out, d.Detect(&recs[i])...)
	}
	return out
}

// Each Stratus Red Team detonation raises a detection of its ATT&CK
// tactic (the file name's second part).
func TestStratusDetonationsDetected(t *testing.T) {
	rs := builtinRules(t)
	paths, _ := filepath.Glob("../../cloudevent/testdata/cloudtrail/aws.*.json")
	if len(paths) < 18 {
		t.Fatalf("%d sample files", len(paths))
	}
	for _, p := range paths {
		tactic := strings.Split(filepath.Base(p), ".")[1]
		d := NewDetector(rs)
		dets := detectFile(t, d, p)
		var got []string
		ok := false
		for _, x := range dets {
			got = append(got, x.Severity.String()+" "+x.Tactic+" "+x.Rule)
			ok = ok || x.Tactic == tactic
			if x.ID == "" || x.Time.IsZero() || len(x.Actors) == 0 || len(x.Resources) == 0 || len(x.Evidence.Records) == 0 || x.Message == "" {
				t.Errorf("%s: incomplete detection %+v", p, x)
			}
		}
		sort.Strings(got)
		if !ok {
			t.Errorf("%s: no %s detection; got %v", filepath.Base(p), tactic, got)
		}
		if n := d.Stats.EvalErrors.Load(); n > 0 {
			t.Errorf("%s: %d evaluation errors", p, n)
		}
		t.Logf("%s: %v", filepath.Base(p), uniq(got))
	}
}

func uniq(s []string) []string {
	var out []string
	for i, x := range s {
		if i == 0 || s[i-1] != x {
			out = append(out, x)
		}
	}
	return out
}

// Ordinary activity (testdata/gen-benign.py: CI deploys, autoscaling, SSO
// users, applications reading their secrets, services acting for users)
// raises nothing at medium or above.
func TestBenignCloudTrailQuiet(t *testing.T) {
	d := NewDetector(builtinRules(t))
	dets := detectFile(t, d, "testdata/benign-cloudtrail.json")
	if d.Stats.Records.Load() < 400 {
		t.Fatalf("only %d records", d.Stats.Records.Load())
	}
	low := map[string]int{}
	for _, x := range dets {
		if x.Severity >= alert.Medium {
			t.Errorf("%s %s: %s", x.Severity, x.Rule, x.Message)
		}
		low[x.Rule]++
	}
	if n := d.Stats.EvalErrors.Load(); n > 0 {
		t.Errorf("%d evaluation errors", n)
	}
	t.Logf("%d records, low detections %v", d.Stats.Records.Load(), low)
}

// Falco's k8saudit trace files: the attacks raise their rule; the benign
// twins (unprivileged pod, harmless mount, configmaps) raise nothing at
// medium or above.
func TestFalcoAuditTraces(t *testing.T) {
	rs := builtinRules(t)
	dir := "../../cloudevent/testdata/k8saudit/falco-trace-files/"
	for file, want := range map[string]string{
		"attach_pod.json":                                     "Exec or attach into a pod",
		"exec_pod.json":                                       "Exec or attach into a pod",
		"create_nginx_pod_privileged.json":                    "Privileged or host-namespace pod created",
		"create_nginx_pod_privileged_2nd_container.json":      "Privileged or host-namespace pod created",
		"create_nginx_pod_hostnetwork.json":                   "Privileged or host-namespace pod created",
		"create_nginx_pod_sensitive_mount.json":               "Sensitive host path mounted into a pod",
		"create_nginx_pod_sensitive_mount_2nd_container.json": "Sensitive host path mounted into a pod",
		"attach_cluster_admin_role.json":                      "Cluster-admin binding created",
		"create_cluster_role_wildcard_verbs.json":             "Wildcard role created",
		"create_cluster_role_wildcard_resources.json":         "Wildcard role created",
		"create_nginx_pod_unprivileged.json":                  "",
		"create_nginx_pod_unsensitive_mount.json":             "",
		"create_nginx_pod_nohostnetwork.json":                 "",
		"create_configmap.json":                               "",
		"create_deployment.json":                              "",
	} {
		b, err := os.ReadFile(dir + file)
		if err != nil {
			t.Fatal(err)
		}
		recs, errs := cloudevent.ParseK8sAudit(file, b, "c")
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		d := NewDetector(rs)
		var got []string
		for i := range recs {
			for _, x := range d.Detect(&recs[i]) {
				if x.Severity >= alert.Medium {
					got = append(got, x.Rule)
				}
			}
		}
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if want == "" && len(got) > 0 || want != "" && !found {
			t.Errorf("%s: want %q, got %v", file, want, got)
		}
	}
}

// Every enabled vendor cloud rule has a positive and a negative fixture or
// a sample that raises it, and every cloud fixture passes.
func TestBuiltinCloudFixtures(t *testing.T) {
	set := rules.NewSet()
	names, content := rules.Builtin()
	for _, n := range names {
		if err := set.Parse(n, content[n]); err != nil {
			t.Fatal(err)
		}
	}
	fnames, fcontent := rules.BuiltinFixtures()
	var all []rules.Fixture
	for _, n := range fnames {
		fx, err := rules.ParseFixtures(n, fcontent[n])
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, fx...)
	}
	_, cloudFx := rules.SplitFixtures(set, all)
	results, notRun := rules.RunOtherFixtures(set, cloudFx)
	if len(notRun) > 0 || len(results) < 60 {
		t.Fatalf("%d cloud fixture cases, not run %v", len(results), notRun)
	}
	for _, r := range results {
		if !r.Passed {
			t.Errorf("%s %q %s: %s", r.Pos, r.Rule, r.Case, r.Detail)
		}
	}
}
