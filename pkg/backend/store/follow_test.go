package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/backend/bus"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// A follower whose consumer stops being fed while its heartbeats go on (a
// paused consumer here; a consumer on a cluster node that lost its stream
// leader in CI) is found by asking the stream, and re-created from the
// last message it saw: nothing is missed, nothing is seen twice.
func TestFollowRecoversFromAStalledConsumer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := embedded(t, ctx)
	spec := wire.DetectionStreamSpec(time.Hour, 1<<20, 1, 1)
	if err := c.EnsureStream(ctx, spec); err != nil {
		t.Fatal(err)
	}
	publish := func(id string) {
		t.Helper()
		if _, err := c.Publish(ctx, []Msg{{Subject: "vigil.t.detection.x.h", ID: id, Data: []byte(id)}}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var n atomic.Int32
	seen := make(chan string, 16)
	go func() {
		_ = c.Follow(ctx, spec.Name, "vigil.*.detection.>", time.Time{}, func(m Msg) { n.Add(1); seen <- string(m.Data) })
	}()
	wait := func(within time.Duration) string { t.Helper(); return receive(t, seen, within) }
	publish("one")
	got = append(got, wait(10*time.Second))
	// Pause the follower's consumer on the server: it lives on and sends
	// heartbeats, but delivers nothing.
	pauseAll(t, ctx, c, spec.Name)
	publish("two")
	publish("three")
	got = append(got, wait(3*FollowCheck), wait(FollowCheck))
	if got[0] != "one" || got[1] != "two" || got[2] != "three" {
		t.Errorf("delivered %v", got)
	}
	if c.FollowResets() == 0 {
		t.Error("no reset counted")
	}
	time.Sleep(500 * time.Millisecond)
	if n.Load() != 3 {
		t.Errorf("%d deliveries, want 3", n.Load())
	}
}

// The same for a KV watcher (the threat view).
func TestWatchRecoversFromAStalledWatcher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := embedded(t, ctx)
	kv, err := c.EnsureKV(ctx, "t", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 16)
	ready := make(chan struct{})
	go func() {
		_ = kv.Watch(ctx, func(k string, v []byte, _ uint64) { seen <- k + "=" + string(v) }, func() { close(ready) })
	}()
	wait := func(within time.Duration) string { t.Helper(); return receive(t, seen, within) }
	if got := wait(10 * time.Second); got != "a=1" {
		t.Fatalf("first %q", got)
	}
	<-ready
	pauseAll(t, ctx, c, "KV_t")
	if err := kv.Put(ctx, "b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if got := wait(3 * FollowCheck); got != "b=2" {
		t.Errorf("after the stall %q", got)
	}
	if c.FollowResets() == 0 {
		t.Error("no reset counted")
	}
	select {
	case s := <-seen:
		t.Errorf("delivered again: %q", s)
	case <-time.After(500 * time.Millisecond):
	}
}

// receive is the next value of seen, or a failure after within.
func receive(t *testing.T, seen <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case s := <-seen:
		return s
	case <-time.After(within):
		t.Fatalf("nothing delivered within %s", within)
		return ""
	}
}

func embedded(t *testing.T, ctx context.Context) *Conn {
	t.Helper()
	b, err := bus.Start(bus.Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Anonymous: true}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	c, err := Connect(ctx, Options{InProcess: b, Name: "test"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// pauseAll pauses the stream's one consumer for an hour.
func pauseAll(t *testing.T, ctx context.Context, c *Conn, stream string) {
	t.Helper()
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	names := s.ConsumerNames(ctx)
	paused := 0
	for name := range names.Name() {
		if _, err := c.js.PauseConsumer(ctx, stream, name, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		paused++
	}
	if paused != 1 {
		t.Fatalf("%d consumers paused", paused)
	}
}

// A partitioned stream stores each subject with the partition of its key
// as the server computes it, and that is wire.PartitionOf: the correlation
// restores a threat into the partition its detections are consumed from.
func TestPartitionedStreamAgreesWithPartitionOf(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := embedded(t, ctx)
	const n = 5
	spec := wire.DetectionStreamSpec(time.Hour, 1<<20, 1, n)
	if err := c.EnsureStream(ctx, spec); err != nil {
		t.Fatal(err)
	}
	keys := []string{"111122223333", "444455556666", "prod", "h-1", "vm", "unknown", "777788889999", "a_b-c"}
	for i, key := range keys {
		if _, err := c.Publish(ctx, []Msg{{Subject: wire.SourceSubject("e", wire.KindDetection, "runtime", key), ID: key, Data: []byte{byte(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	done := make(chan struct{})
	go func() {
		_ = c.Follow(ctx, spec.Name, "", time.Time{}, func(m Msg) {
			got[m.ID] = m.Subject
			if len(got) == len(keys) {
				close(done)
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("got %v", got)
	}
	parts := map[int]bool{}
	for _, key := range keys {
		k := wire.PartitionOf(key, n)
		parts[k] = true
		if want := fmt.Sprintf("vigil.e.detection.runtime.%s.%d", key, k); got[key] != want {
			t.Errorf("%s stored as %s, want %s", key, got[key], want)
		}
	}
	if len(parts) < 2 {
		t.Errorf("every key in one partition: %v", parts)
	}
}
