package lease

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/backend/store"
)

// Two instances: one leads at a time; when it stops, the other takes over
// at once; when it dies without releasing, the other takes over after the
// TTL; never both.
func TestOneLeaderAtATime(t *testing.T) {
	kv := store.NewMemKV()
	var leading atomic.Int32
	var both atomic.Bool
	lead := func(name string, terms *atomic.Int32) func(context.Context) error {
		return func(ctx context.Context) error {
			if leading.Add(1) > 1 {
				both.Store(true)
			}
			terms.Add(1)
			<-ctx.Done()
			leading.Add(-1)
			return nil
		}
	}
	var aTerms, bTerms atomic.Int32
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	a := &Lease{KV: kv, Key: "k", Owner: "a", TTL: 300 * time.Millisecond}
	b := &Lease{KV: kv, Key: "k", Owner: "b", TTL: 300 * time.Millisecond}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.Run(ctxA, lead("a", &aTerms)) }()
	time.Sleep(100 * time.Millisecond)
	go func() { defer wg.Done(); _ = b.Run(ctxB, lead("b", &bTerms)) }()
	time.Sleep(time.Second)
	if aTerms.Load() != 1 || bTerms.Load() != 0 || a.Holder(context.Background()) != "a" {
		t.Fatalf("a %d b %d holder %q", aTerms.Load(), bTerms.Load(), a.Holder(context.Background()))
	}
	stopA() // a stop releases: b takes over within a tick
	start := time.Now()
	for bTerms.Load() == 0 && time.Since(start) < 2*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	if bTerms.Load() != 1 {
		t.Fatal("b did not take over")
	}
	if both.Load() {
		t.Error("two leaders at once")
	}
	stopB()
	wg.Wait()
}

// A holder that dies (no release) loses the lease when it expires.
func TestExpiredLeaseIsTakenOver(t *testing.T) {
	kv := store.NewMemKV()
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	dead := &Lease{KV: kv, Key: "k", Owner: "dead", TTL: time.Minute, Now: clock}
	if dead.try(context.Background(), 0) == 0 {
		t.Fatal("dead could not take a free lease")
	}
	live := &Lease{KV: kv, Key: "k", Owner: "live", TTL: time.Minute, Now: clock}
	if live.try(context.Background(), 0) != 0 {
		t.Fatal("taken while held")
	}
	now = now.Add(61 * time.Second)
	if live.try(context.Background(), 0) == 0 || live.Holder(context.Background()) != "live" {
		t.Fatal("not taken over after expiry")
	}
}
