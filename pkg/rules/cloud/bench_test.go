package cloud

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-sec/vigil/pkg/cloudevent"
)

// corpus is the Stratus detonations and the benign day as JSON lines.
func corpus(b *testing.B) ([]byte, int) {
	b.Helper()
	var buf bytes.Buffer
	n := 0
	paths, _ := filepath.Glob("../../cloudevent/testdata/cloudtrail/aws.*.json")
	paths = append(paths, "testdata/benign-cloudtrail.json")
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		recs, _ := cloudevent.ParseCloudTrail(p, raw)
		for _, r := range recs {
			buf.Write(r.Raw)
			buf.WriteByte('\n')
			n++
		}
	}
	return buf.Bytes(), n
}

// CloudTrail parse and detect on one core, with the vendor rules: the goal
// is at least 100,000 records/s.
func BenchmarkCloudTrailParseDetect(b *testing.B) {
	data, n := corpus(b)
	rs := builtinRules(b)
	d := NewDetector(rs)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs, _ := cloudevent.ParseCloudTrail("bench", data)
		for j := range recs {
			d.Detect(&recs[j])
		}
	}
	b.StopTimer()
	total := float64(b.N * n)
	b.ReportMetric(total/b.Elapsed().Seconds(), "records/s")
}

// Detect alone, on records already parsed (the backend's stage decodes the
// stream's JSON instead of the original).
func BenchmarkCloudDetectOnly(b *testing.B) {
	data, _ := corpus(b)
	recs, _ := cloudevent.ParseCloudTrail("bench", data)
	// As the stage sees them: decoded from their stream JSON.
	for i := range recs {
		raw, _ := json.Marshal(recs[i])
		var r cloudevent.Record
		_ = json.Unmarshal(raw, &r)
		r.Derive()
		recs[i] = r
	}
	d := NewDetector(builtinRules(b))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Detect(&recs[i%len(recs)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
