package cloud

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/rules"
)

// fixtureBase is when fixture records happen, one second apart.
var fixtureBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// FixtureAccount is the account (and cluster) of fixture records.
const FixtureAccount = "111122223333"

// RunFixtures runs cloud fixtures: each case's events are records of the
// rule's source, written as that source logs them (a CloudTrail record; an
// audit event; a flow record as its flow-log fields), with ids and times
// filled in; `_repeat: N` repeats an event N times (for threshold rules).
func (s schema) RunFixtures(set *rules.Set, fixtures []rules.Fixture) []rules.FixtureResult {
	rs, cerr := compile(set, false, string(s))
	known := func(name string) bool {
		for _, r := range set.Rules {
			if r.Name == name && r.Enabled {
				return true
			}
		}
		return false
	}
	return rules.RunCases(fixtures, known, func(f rules.Fixture, raw []map[string]any) (bool, string, error) {
		if cerr != nil {
			return false, "", fmt.Errorf("rules do not compile")
		}
		recs, err := FixtureRecords(string(s), raw)
		if err != nil {
			return false, "", err
		}
		d := NewDetector(rs)
		fired := false
		for i := range recs {
			for _, det := range d.Detect(&recs[i]) {
				fired = fired || det.Rule == f.Rule
			}
		}
		note := ""
		if n := d.Stats.EvalErrors.Load(); n > 0 {
			note = fmt.Sprintf("%d evaluation errors", n)
		}
		return fired, note, nil
	})
}

// FixtureRecords turns fixture events into records through the source's
// real parser.
func FixtureRecords(source string, raw []map[string]any) ([]cloudevent.Record, error) {
	var out []cloudevent.Record
	n := 0
	for i, m := range raw {
		repeat := 1
		if v, ok := m["_repeat"]; ok {
			r, err := strconv.Atoi(fmt.Sprint(v))
			if err != nil || r < 1 || r > 10000 {
				return nil, fmt.Errorf("event %d: _repeat must be 1 to 10000", i+1)
			}
			repeat = r
		}
		for k := 0; k < repeat; k++ {
			recs, err := fixtureRecord(source, m, n)
			if err != nil {
				return nil, fmt.Errorf("event %d: %v", i+1, err)
			}
			out = append(out, recs...)
			n++
		}
	}
	return out, nil
}

func fixtureRecord(source string, m map[string]any, n int) ([]cloudevent.Record, error) {
	c := map[string]any{}
	for k, v := range m {
		if k != "_repeat" {
			c[k] = v
		}
	}
	at := fixtureBase.Add(time.Duration(n) * time.Second)
	def := func(k string, v any) {
		if _, ok := c[k]; !ok {
			c[k] = v
		}
	}
	var recs []cloudevent.Record
	var errs []*cloudevent.RecordError
	switch source {
	case cloudevent.CloudTrail:
		def("eventVersion", "1.09")
		def("eventTime", at.Format(time.RFC3339))
		def("eventID", fmt.Sprintf("fixture-%d", n))
		def("eventType", "AwsApiCall")
		def("awsRegion", "us-east-1")
		def("recipientAccountId", FixtureAccount)
		def("sourceIPAddress", "198.51.100.7")
		def("userAgent", "aws-cli/2.15.0")
		def("userIdentity", map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::" + FixtureAccount + ":user/alice",
			"userName": "alice", "accountId": FixtureAccount, "accessKeyId": "AKIAFIXTURE"})
		b, err := json.Marshal(jsonable(c))
		if err != nil {
			return nil, err
		}
		recs, errs = cloudevent.ParseCloudTrail("fixture", b)
	case cloudevent.K8sAudit:
		def("kind", "Event")
		def("apiVersion", "audit.k8s.io/v1")
		def("auditID", fmt.Sprintf("fixture-%d", n))
		def("stage", "ResponseComplete")
		def("stageTimestamp", at.Format(time.RFC3339Nano))
		def("annotations", map[string]any{"authorization.k8s.io/decision": "allow"})
		b, err := json.Marshal(jsonable(c))
		if err != nil {
			return nil, err
		}
		recs, errs = cloudevent.ParseK8sAudit("fixture", b, "fixture-cluster")
	case cloudevent.VPCFlow:
		def("version", 2)
		def("account-id", FixtureAccount)
		def("interface-id", "eni-fixture")
		def("action", "ACCEPT")
		def("log-status", "OK")
		def("protocol", 6)
		def("start", at.Unix())
		def("end", at.Unix()+60)
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = fmt.Sprint(c[k])
		}
		recs, errs = cloudevent.ParseFlow("fixture", []byte(strings.Join(vals, " ")+"\n"), keys)
		for i := range recs {
			recs[i].ID = fmt.Sprintf("fixture-%d", n) // identical lines are distinct events here
		}
	default:
		return nil, fmt.Errorf("no fixtures for source %q", source)
	}
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return recs, nil
}

// jsonable turns YAML's map[any]any (nested) into JSON-encodable maps.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	}
	return v
}
