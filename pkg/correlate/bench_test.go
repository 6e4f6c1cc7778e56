package correlate

import (
	"fmt"
	goruntime "runtime"
	"slices"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// benchDetections spread over n hosts (each a heartbeat in the graph), a
// medium or higher one every 10th, the rest low, over an hour of event
// time: 10,000 active entities with threats opening and growing.
func benchDetections(n, count int) (*Engine, []*alert.Detection) {
	e := New(Config{}, func() time.Time { return t0 })
	infos := make([]*alert.HostInfo, n)
	for i := range infos {
		infos[i] = hostInfo(fmt.Sprint("h-", i), fmt.Sprint("i-", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), "")
		e.Heartbeat(heartbeat(infos[i], t0))
	}
	ds := make([]*alert.Detection, count)
	for i := range ds {
		sev := alert.Low
		if i%10 == 0 {
			sev = alert.High
		}
		ds[i] = runtime(fmt.Sprint("d", i), "Rule", sev, "execution", t0.Add(time.Duration(i%3600)*time.Second), infos[(i*7919)%n], i)
	}
	return e, ds
}

// Correlation throughput on one core with 10,000 active entities (goal at
// least 20,000 detections/s), and memory per active entity.
func BenchmarkCorrelate10kEntities(b *testing.B) {
	const hosts = 10000
	e, ds := benchDetections(hosts, 200000)
	var before goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Add(ds[i%len(ds)])
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "detections/s")
	var after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&after)
	// What the engine holds beyond the graph and the inputs: threats,
	// their timelines and entities, pending detections, the indexes.
	if b.N >= len(ds) && after.HeapAlloc > before.HeapAlloc {
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/hosts, "heap-B/entity")
	}
	goruntime.KeepAlive(e)
	goruntime.KeepAlive(ds)
}

// Detection-to-threat latency of the engine (the stage adds a KV write and
// the consumer's delivery, measured end to end by BenchmarkDetectionToThreat
// in pkg/backend).
func BenchmarkAddLatency(b *testing.B) {
	e, ds := benchDetections(10000, 100000)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		e.Add(ds[i%len(ds)])
		lat = append(lat, time.Since(t))
	}
	b.StopTimer()
	p50, p99 := percentiles(lat)
	b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
}

func percentiles(l []time.Duration) (p50, p99 time.Duration) {
	if len(l) == 0 {
		return 0, 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100]
}
