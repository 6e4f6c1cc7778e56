package backend

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/detect"
	"github.com/vigil-sec/vigil/pkg/backend/ingest"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/correlate"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// benchRecords is how many records one iteration ingests.
const benchRecords = 20000

// benchBackend starts a backend on the embedded server (file storage);
// run also starts its stages.
func benchBackend(b *testing.B, run bool) (*Backend, context.Context) {
	b.Helper()
	cfg := config.DefaultBackend()
	cfg.DataDir = b.TempDir()
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.Listen = "127.0.0.1:0"
	cfg.Rules.Paths = nil
	ctx, cancel := context.WithCancel(context.Background())
	bk, err := Start(ctx, cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	if run {
		ready := make(chan struct{})
		go func() { done <- bk.Run(ctx, func() { close(ready) }) }()
		<-ready
	} else {
		close(done)
	}
	b.Cleanup(func() {
		cancel()
		<-done
		bk.Close()
	})
	return bk, ctx
}

// benchInputs are b.N inputs of benchRecords CloudTrail records as JSON
// lines, as a trail is: the benign day (real shapes, about 1 KB each)
// repeated, with a Stratus detonation's record every 100th; event ids are
// unique per iteration so nothing is a duplicate.
func benchInputs(b *testing.B) [][]byte {
	b.Helper()
	read := func(glob string) [][]byte {
		paths, _ := filepath.Glob(glob)
		var lines [][]byte
		for _, p := range paths {
			raw, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			recs, _ := cloudevent.ParseCloudTrail(p, raw)
			for _, r := range recs {
				if bytes.Contains(r.Raw, []byte(`"eventID":"`)) {
					lines = append(lines, r.Raw)
				}
			}
		}
		if len(lines) == 0 {
			b.Fatalf("no records in %s", glob)
		}
		return lines
	}
	benign := read("../rules/cloud/testdata/benign-cloudtrail.json")
	attacks := read("../cloudevent/testdata/cloudtrail/aws.*.json")
	out := make([][]byte, b.N)
	for it := range out {
		var buf bytes.Buffer
		for i := 0; i < benchRecords; i++ {
			line := benign[i%len(benign)]
			if i%100 == 0 {
				line = attacks[(i/100)%len(attacks)]
			}
			buf.Write(bytes.Replace(line, []byte(`"eventID":"`), fmt.Appendf(nil, `"eventID":"%d-%d-`, it, i), 1))
			buf.WriteByte('\n')
		}
		out[it] = buf.Bytes()
	}
	return out
}

// End to end through NATS: records parsed and published to the cloud
// stream (the embedded server, file storage, acks), consumed by the
// detection stage, detections published and acked. The goal is at least
// 50,000 records/s; BenchmarkJetStreamFloor is what JetStream alone does
// with the same messages (batches of records) on the same machine.
func BenchmarkIngestToDetection(b *testing.B) {
	bk, ctx := benchBackend(b, true)
	inputs := benchInputs(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for it := 0; it < b.N; it++ {
		want := bk.stage.Stats.Records.Load() + benchRecords
		if _, err := ingest.Data(ctx, bk.conn, "cloudtrail", "bench", inputs[it], ingest.Options{Env: "bench"}, func(error) {}); err != nil {
			b.Fatal(err)
		}
		for bk.stage.Stats.Records.Load() < want {
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "records/s")
}

// What JetStream alone does with the end-to-end messages: the same
// batches (already parsed and encoded) published with their ids to the
// cloud stream and consumed and acked by a handler that does nothing.
func BenchmarkJetStreamFloor(b *testing.B) {
	bk, ctx := benchBackend(b, false)
	inputs := benchInputs(b)
	batches := make([][]store.Msg, b.N)
	for it := range batches {
		recs, _, _ := ingest.Parse("cloudtrail", "bench", inputs[it], ingest.Options{Env: "bench"})
		msgs, err := ingest.Messages("bench", recs)
		if err != nil {
			b.Fatal(err)
		}
		batches[it] = msgs
	}
	consumed := make(chan int, 1024)
	go func() {
		_ = bk.conn.Consume(ctx, store.ConsumerSpec{Stream: wire.CloudStream, Durable: "floor"}, func(_ context.Context, msgs []store.Msg) []error {
			consumed <- len(msgs)
			return nil
		})
	}()
	b.ResetTimer()
	start := time.Now()
	for it := 0; it < b.N; it++ {
		if _, err := bk.conn.Publish(ctx, batches[it]); err != nil {
			b.Fatal(err)
		}
		for n := 0; n < len(batches[it]); {
			n += <-consumed
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchRecords)/time.Since(start).Seconds(), "records/s")
}

// Detection to threat through NATS: a detection published to the
// detection stream, consumed by the correlation, its threat written to
// the KV bucket and seen by the API's view. Reports p50 and p99.
func BenchmarkDetectionToThreat(b *testing.B) {
	bk, ctx := benchBackend(b, true)
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	seen := make(chan struct{}, 1<<16)
	prev := bk.view.OnChange
	bk.view.OnChange = func(t *alert.Threat) {
		prev(t)
		mu.Lock()
		if at, ok := sent[t.ID]; ok {
			lat = append(lat, time.Since(at))
			delete(sent, t.ID)
			seen <- struct{}{}
		}
		mu.Unlock()
	}
	at := time.Now().UTC()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := alert.Detection{Schema: alert.DetectionSchema, ID: fmt.Sprintf("bench-%d", i), Source: alert.SourceRuntime, Rule: "Bench",
			Severity: alert.High, Tactic: "execution", Time: at, Env: "bench",
			Resources: []alert.Entity{{Kind: alert.KindHost, ID: fmt.Sprintf("h-%d", i)}}}
		m, err := detect.Message(&d)
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		sent[correlate.ThreatID(d.ID)] = time.Now()
		mu.Unlock()
		if _, err := bk.conn.Publish(ctx, []store.Msg{m}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-seen:
		case <-time.After(10 * time.Second):
			b.Fatalf("no threat for %s", d.ID)
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
