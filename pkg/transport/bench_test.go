package transport

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/spool"
)

// BenchmarkPublishAcked: alerts appended to the spool and delivered with
// JetStream acknowledgements (file storage) over TCP; reports alerts/s and
// the latency from append to acknowledgement.
func BenchmarkPublishAcked(b *testing.B) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: b.TempDir(), NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	ns.ReadyForConnections(10 * time.Second)
	sp, _ := spool.Open(b.TempDir(), spool.Options{MaxBytes: 1 << 30})
	defer sp.Close()
	pub, err := Connect(Config{URL: ns.ClientURL(), Env: "bench", HostID: "h1", CreateStream: true}, sp, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	if err := pub.EnsureStream(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pub.Run(ctx)
	payload := make([]byte, 1024) // a typical alert with its event
	subject := Subject("bench", "alert", "h1")
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := sp.Append(4, fmt.Sprintf("bench-%d-%d", start.UnixNano(), i), subject, payload); err != nil {
			b.Fatal(err)
		}
		if i%64 == 0 {
			pub.Notify()
		}
	}
	pub.Notify()
	for sp.Stats().Records > 0 {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "alerts/s")
	if b.N >= 1000 {
		// Latency, measured separately at a steady 2,000 alerts/s.
		var lat []time.Duration
		for i := 0; i < 1000; i++ {
			t0 := time.Now()
			sp.Append(4, fmt.Sprintf("lat-%d-%d", start.UnixNano(), i), subject, payload)
			pub.Notify()
			for sp.Stats().Records > 0 {
				time.Sleep(50 * time.Microsecond)
			}
			lat = append(lat, time.Since(t0))
			time.Sleep(500 * time.Microsecond)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
	}
}
