package cloudevent

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readData(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), "LICENSE") {
			out = append(out, p)
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatalf("no files in %s", dir)
	}
	return out
}

// Every Stratus Red Team file parses whole: the anonymized values (invalid
// IPs, fake regions, odd instance ids) are kept, nothing is lost.
func TestCloudTrailSamples(t *testing.T) {
	total := 0
	for _, f := range files(t, "testdata/cloudtrail") {
		recs, errs := ParseCloudTrail(f, readData(t, f))
		if len(errs) > 0 || len(recs) == 0 {
			t.Errorf("%s: %d records, errors %v", f, len(recs), errs)
		}
		for _, r := range recs {
			if r.ID == "" || r.Time.IsZero() || r.Key == "" || r.CloudTrail.EventName == "" || len(r.Raw) == 0 {
				t.Errorf("%s: incomplete record %+v", f, r)
			}
		}
		total += len(recs)
	}
	if total != 137 {
		t.Errorf("%d records in all, want 137", total)
	}
}

func TestCloudTrailFields(t *testing.T) {
	recs, errs := ParseCloudTrail("x", readData(t, "testdata/cloudtrail/aws.persistence.iam-backdoor-role.json"))
	if len(errs) != 0 || len(recs) != 1 {
		t.Fatal(errs)
	}
	ct := recs[0].CloudTrail
	ct.Decode(PartAll)
	if ct.EventName != "UpdateAssumeRolePolicy" || ct.UserIdentity.Type != "IAMUser" || ct.Actor != "arn:aws:iam::751203476945:user/christophe" ||
		ct.RequestParameters["roleName"] != "stratus-red-team-backdoor-r-role" || !strings.Contains(ct.RequestJSON, "193672423079") ||
		recs[0].Key != "751203476945" || recs[0].ID != "62e290e2-ee95-4a7c-a9f8-db4ef462b12d" {
		t.Errorf("%+v", ct)
	}
}

// The envelope, JSON lines and concatenated records are all accepted, and
// a malformed record is reported with its line while the others are read.
func TestCloudTrailShapesAndErrors(t *testing.T) {
	rec := `{"eventVersion":"1.08","eventTime":"2026-01-02T03:04:05Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventID":"e1","recipientAccountId":"111122223333","readOnly":"false","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root"}}`
	rec2 := strings.Replace(rec, `"e1"`, `"e2"`, 1)
	for name, c := range map[string]struct {
		in         string
		recs, errs int
		errLine    int
	}{
		"envelope":     {`{"Records":[` + rec + `,` + rec2 + `]}`, 2, 0, 0},
		"array":        {`[` + rec + "]", 1, 0, 0},
		"lines":        {rec + "\n" + rec2 + "\n", 2, 0, 0},
		"bad line":     {rec + "\n{not json\n" + rec2 + "\n", 2, 1, 2},
		"no time":      {strings.Replace(rec, "2026-01-02T03:04:05Z", "yesterday", 1) + "\n" + rec2, 1, 1, 1},
		"not a record": {`{"hello":"world"}` + "\n" + rec, 1, 1, 1},
		"wrong types":  {strings.Replace(rec, `"readOnly":"false"`, `"readOnly":"false","requestParameters":"oops","errorCode":5`, 1), 1, 0, 0},
		"empty":        {"", 0, 0, 0},
	} {
		recs, errs := ParseCloudTrail("f.json", []byte(c.in))
		if len(recs) != c.recs || len(errs) != c.errs {
			t.Errorf("%s: %d records, errors %v", name, len(recs), errs)
			continue
		}
		if c.errs > 0 && errs[0].Line != c.errLine {
			t.Errorf("%s: error at line %d, want %d: %v", name, errs[0].Line, c.errLine, errs[0])
		}
		if c.errs > 0 && !strings.HasPrefix(errs[0].Error(), "f.json:") {
			t.Errorf("%s: error does not name the file: %v", name, errs[0])
		}
	}
}

func TestFlowSamples(t *testing.T) {
	want := map[string][2]int{ // records, errors
		"otel-v2-default.log": {2, 0}, "otel-v2-nodata.log": {1, 0}, "otel-v2-too-few-fields.log": {0, 1},
		"otel-v2-too-many-fields.log": {0, 1}, "otel-v5-ecs-fields.log": {1, 0}, "otel-v6-transit-gateway.log": {1, 0},
	}
	for _, f := range files(t, "testdata/vpcflow") {
		recs, errs := ParseFlow(f, readData(t, f), nil)
		if w, ok := want[filepath.Base(f)]; ok {
			if len(recs) != w[0] || len(errs) != w[1] {
				t.Errorf("%s: %d records %d errors, want %v: %v", f, len(recs), len(errs), w, errs)
			}
			continue
		}
		if len(errs) != 0 || len(recs) == 0 {
			t.Errorf("%s: %d records, errors %v", f, len(recs), errs)
		}
	}
	recs, _ := ParseFlow("x", readData(t, "testdata/vpcflow/vigil-written-custom-order.log"), nil)
	f := recs[0].Flow
	if f.InstanceID != "i-0f1e2d3c4b5a69788" || f.Bytes != 4380 || f.DstPort != 443 || !f.SrcPublic || f.DstPublic || f.Egress {
		t.Errorf("custom order: %+v", f)
	}
	if recs[1].Flow.Egress != true || recs[0].Key != "444455556666" {
		t.Errorf("egress/key: %+v %s", recs[1].Flow, recs[0].Key)
	}
}

func TestFlowFormatFlag(t *testing.T) {
	format, err := ParseFlowFormat("${version} ${srcaddr} ${dstaddr} ${dstport} ${action}")
	if err != nil {
		t.Fatal(err)
	}
	recs, errs := ParseFlow("x", []byte("5 10.0.0.1 198.51.100.7 3333 ACCEPT\n5 10.0.0.1 x notaport ACCEPT\n"), format)
	if len(recs) != 1 || len(errs) != 1 || errs[0].Line != 2 || !strings.Contains(errs[0].Reason, "dstport") {
		t.Fatalf("%v %v", recs, errs)
	}
	if r := recs[0].Flow; r.DstPort != 3333 || !r.Egress || !r.DstPublic {
		t.Errorf("%+v", r)
	}
	// The same line twice is one record id (re-ingestion stores it once).
	a, _ := ParseFlow("x", []byte("5 10.0.0.1 198.51.100.7 3333 ACCEPT\n5 10.0.0.1 198.51.100.7 3333 ACCEPT\n"), format)
	if a[0].ID != a[1].ID {
		t.Error("identical lines have different ids")
	}
}

func TestK8sAuditSamples(t *testing.T) {
	total := 0
	for _, f := range files(t, "testdata/k8saudit") {
		recs, errs := ParseK8sAudit(f, readData(t, f), "prod-eks")
		if filepath.Base(f) == "fal_01_003.json" { // Falco's malformed-input sample: {"kind": 0}
			if len(recs) != 0 || len(errs) != 1 {
				t.Errorf("%s: %d records, errors %v", f, len(recs), errs)
			}
			continue
		}
		if len(recs) == 0 {
			t.Errorf("%s: no records, errors %v", f, errs)
		}
		for _, e := range errs {
			t.Logf("%v", e)
		}
		for _, r := range recs {
			if r.ID == "" || r.Time.IsZero() || r.Key != "prod-eks" {
				t.Errorf("%s: incomplete %+v", f, r)
			}
		}
		total += len(recs)
	}
	t.Logf("%d audit events", total)
}

func TestK8sAuditDerived(t *testing.T) {
	recs, errs := ParseK8sAudit("x", readData(t, "testdata/k8saudit/falco-trace-files/attach_pod.json"), "c")
	if len(errs) != 0 || len(recs) == 0 {
		t.Fatal(errs)
	}
	k := recs[0].K8s
	if k.ObjectRef.Subresource != "attach" || k.SourceIP != "192.168.99.1" || k.Decision != "allow" {
		t.Errorf("%+v", k)
	}
	priv := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a1","stage":"ResponseComplete","verb":"create",` +
		`"user":{"username":"system:anonymous","groups":["system:unauthenticated"]},"sourceIPs":["10.0.0.9","203.0.113.5"],` +
		`"objectRef":{"resource":"daemonsets","namespace":"kube-system","name":"x"},"stageTimestamp":"2026-01-01T00:00:00.5Z",` +
		`"requestObject":{"spec":{"template":{"spec":{"hostPID":true,"containers":[{"image":"alpine","securityContext":{"privileged":true}}],` +
		`"volumes":[{"name":"root","hostPath":{"path":"/"}}]}}}}}`
	recs, errs = ParseK8sAudit("x", []byte(priv), "c")
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	k = recs[0].K8s
	if !k.Privileged || !k.HostPID || k.HostNetwork || len(k.HostPaths) != 1 || k.HostPaths[0] != "/" || !k.Anonymous ||
		k.SourceIP != "203.0.113.5" || k.Images[0] != "alpine" || recs[0].ID != "a1/ResponseComplete" {
		t.Errorf("%+v", k)
	}
}

func TestIsPublic(t *testing.T) {
	for ip, want := range map[string]bool{"8.8.8.8": true, "10.1.2.3": false, "172.16.0.1": false, "100.64.1.1": false,
		"169.254.169.254": false, "::1": false, "2001:4860::8888": true, "255.090.254.5": false, "-": false, "fd00::1": false} {
		if IsPublic(ip) != want {
			t.Errorf("IsPublic(%s) = %v", ip, !want)
		}
	}
}

// A record read back from the stream (its JSON) derives the same fields
// rules use: they are not serialized.
func TestRecordRoundTripDerives(t *testing.T) {
	var recs []Record
	r1, _ := ParseCloudTrail("x", readData(t, "testdata/cloudtrail/aws.persistence.iam-backdoor-role.json"))
	r2, _ := ParseK8sAudit("x", readData(t, "testdata/k8saudit/falco-trace-files/create_nginx_pod_privileged.json"), "c")
	recs = append(append(recs, r1...), r2...)
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Record
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		back.Derive()
		back.Derive() // idempotent
		if r.CloudTrail != nil {
			r.CloudTrail.Decode(PartAll)
			back.CloudTrail.Decode(PartAll)
		}
		if r.CloudTrail != nil && (back.CloudTrail.Actor != r.CloudTrail.Actor || back.CloudTrail.RequestJSON != r.CloudTrail.RequestJSON || back.CloudTrail.Actor == "") {
			t.Errorf("cloudtrail derived fields lost: %q", back.CloudTrail.Actor)
		}
		if r.K8s != nil && (back.K8s.Privileged != r.K8s.Privileged || !back.K8s.Privileged || len(back.K8s.Images) != len(r.K8s.Images)) {
			t.Errorf("audit derived fields lost: %+v", back.K8s)
		}
	}
}

// The wire form carries what the stage needs and nothing twice: decoded
// again, a record is the one parsed, for every source, including strings
// that need escaping.
func TestWireRoundTrip(t *testing.T) {
	ct := []byte(`{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00.5Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser",` +
		`"eventID":"e\"1\\x","recipientAccountId":"1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/ü"},"requestParameters":{"userName":"u"}}`)
	ka := []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a1","stage":"ResponseComplete","verb":"create",` +
		`"user":{"username":"system:anonymous"},"objectRef":{"resource":"pods","namespace":"n","name":"p"},"stageTimestamp":"2024-01-01T00:00:00Z"}`)
	flow := []byte("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" +
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 100 1704067200 1704067260 ACCEPT OK\n")
	var all []Record
	r1, _ := ParseCloudTrail("c", ct)
	r2, _ := ParseK8sAudit("k", ka, "prod")
	r3, _ := ParseFlow("f", flow, nil)
	for _, rs := range [][]Record{r1, r2, r3} {
		if len(rs) != 1 {
			t.Fatalf("parsed %d records", len(rs))
		}
		rs[0].Env = "e \"x\""
		all = append(all, rs[0])
	}
	for _, r := range all {
		b, err := r.MarshalWire()
		if err != nil {
			t.Fatal(err)
		}
		if (r.CloudTrail != nil || r.K8s != nil) && len(b) > len(r.Raw)+200 {
			t.Errorf("%s: wire form %d bytes for a %d-byte record", r.Source, len(b), len(r.Raw))
		}
		back, err := UnmarshalWire(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", r.Source, err, b)
		}
		want, _ := json.Marshal(r)
		got, _ := json.Marshal(back)
		if string(got) != string(want) {
			t.Errorf("%s: round trip\n got %s\nwant %s", r.Source, got, want)
		}
	}
	for _, bad := range []string{`{}`, `{"source":"runtime","raw":{}}`, `{"source":"vpcflow","raw":"x"}`, `{"source":"cloudtrail","raw":"x"}`, `nope`} {
		if _, err := UnmarshalWire([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	// A batch of the three (and a bad one among them): each record in
	// order, the bad one an error that stops nothing.
	var parts [][]byte
	for i, r := range all {
		b, _ := r.MarshalWire()
		parts = append(parts, b)
		if i == 0 {
			parts = append(parts, []byte(`{"source":"runtime","raw":{}}`))
		}
	}
	var got []string
	n := EachWire(AppendWireBatch(nil, parts), func(r Record, err error) {
		if err != nil {
			got = append(got, "error")
			return
		}
		got = append(got, r.Source)
	})
	if want := "cloudtrail error k8saudit vpcflow"; strings.Join(got, " ") != want || n != 4 {
		t.Errorf("batch: %v (%d), want %s", got, n, want)
	}
	for _, bad := range []string{`[]`, `[{]`, ` [`, `nope`} {
		errs := 0
		if n := EachWire([]byte(bad), func(_ Record, err error) {
			if err != nil {
				errs++
			}
		}); n != 1 || errs != 1 {
			t.Errorf("%q: %d records, %d errors", bad, n, errs)
		}
	}
}
