package backend

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/backend/ingest"
	"github.com/vigil-sec/vigil/pkg/config"
)

// End to end through NATS: records published to the cloud stream (the
// embedded server, file storage, acks), consumed by the detection stage,
// detections published and acked. The goal is at least 50,000 records/s.
func BenchmarkIngestToDetection(b *testing.B) {
	cfg := config.DefaultBackend()
	cfg.DataDir = b.TempDir()
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.Rules.Paths = nil
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bk, err := Start(ctx, cfg, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	cfg.Listen = "127.0.0.1:0"
	bk.cfg = cfg
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { done <- bk.Run(ctx, func() { close(ready) }) }()
	<-ready
	// Ordinary records with a detection every 100th (as real trails are:
	// mostly quiet), as JSON lines.
	n := 20000
	var lines []byte
	for i := 0; i < n; i++ {
		name := "DescribeInstances"
		if i%100 == 0 {
			name = "CreateLoginProfile"
		}
		lines = fmt.Appendf(lines, `{"eventVersion":"1.09","eventTime":"2026-02-01T00:00:%02dZ","eventSource":"iam.amazonaws.com","eventName":%q,`+
			`"eventID":"ev-%%d-%07d","awsRegion":"eu-west-1","recipientAccountId":"111122223333","sourceIPAddress":"198.51.100.9",`+
			`"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/ops","userName":"ops"},"requestParameters":{"userName":"u"}}`+"\n",
			i%60, name, i)
	}
	inputs := make([][]byte, b.N)
	for it := range inputs {
		inputs[it] = []byte(fmt.Sprintf(string(lines), repeat(it, n)...))
	}
	b.ResetTimer()
	start := time.Now()
	for it := 0; it < b.N; it++ {
		data := inputs[it]
		want := bk.stage.Stats.Records.Load() + uint64(n)
		if _, err := ingest.Data(ctx, bk.conn, "cloudtrail", "bench", data, ingest.Options{Env: "bench"}, func(error) {}); err != nil {
			b.Fatal(err)
		}
		for bk.stage.Stats.Records.Load() < want {
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "records/s")
	cancel()
	<-done
}

func repeat(v, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = v
	}
	return out
}
