package cloud

import (
	"testing"

	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/rules"
)

// Conditions over the cloud fields are untrusted input (operators' rule
// files): compiling and evaluating any of them on any record never panics.
func FuzzCloudCondition(f *testing.F) {
	for _, s := range []string{`ct.request.userName == "x"`, `policy_admin(ct.request.policyDocument)`, `ka.privileged or "a" in ka.images`,
		`flow.bytes > 10 and cidr(flow.dst, "10.0.0.0/8")`, `str(ct.response.x) matches "a+"`, `any(ct.request.layers ?? [], {arn_account(str(#)) != key})`,
		`policy_external(ct.request, "1")`, `len(ka.subjects) > 0`} {
		f.Add(s)
	}
	recs, _ := cloudevent.ParseCloudTrail("f", []byte(`{"eventTime":"2026-01-01T00:00:00Z","eventName":"X","eventSource":"s","requestParameters":{"userName":"x","layers":["arn:aws:lambda:r:1:layer:l"],"policyDocument":{"Statement":"x"}}}`))
	k, _ := cloudevent.ParseK8sAudit("f", []byte(`{"auditID":"a","verb":"get","stageTimestamp":"2026-01-01T00:00:00Z","requestObject":{"spec":{"containers":[{"image":1}]}}}`), "c")
	fl, _ := cloudevent.ParseFlow("f", []byte("2 1 eni 10.0.0.1 8.8.8.8 1 2 6 1 1 1 2 ACCEPT OK\n"), nil)
	all := append(append(recs, k...), fl...)
	f.Fuzz(func(t *testing.T, cond string) {
		set := rules.NewSet()
		set.Rules = append(set.Rules, &rules.Rule{Name: "f", Source: cloudevent.CloudTrail, Desc: "d", Condition: cond, Output: "o",
			Tactic: "t", Technique: "T", Enabled: true})
		rs, err := Compile(set)
		if err != nil {
			return
		}
		d := NewDetector(rs)
		for i := range all {
			r := all[i]
			r.Source = cloudevent.CloudTrail
			d.Detect(&r)
		}
	})
}
