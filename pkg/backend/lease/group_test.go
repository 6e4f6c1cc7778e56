package lease

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/backend/store"
)

// Partitions split among instances: alone, one takes all; a second one
// gets its share handed over; when one stops, the other takes its
// partitions back; when one dies (no release), after the TTL. Never two
// owners of a partition at once.
func TestGroupSharesPartitions(t *testing.T) {
	kv := store.NewMemKV()
	const n = 4
	var mu sync.Mutex
	owner := map[int]string{}
	var twice []string
	count := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		c := 0
		for _, o := range owner {
			if o == name {
				c++
			}
		}
		return c
	}
	lead := func(name string) func(context.Context, int) error {
		return func(ctx context.Context, k int) error {
			mu.Lock()
			if o, ok := owner[k]; ok {
				twice = append(twice, fmt.Sprintf("%d: %s and %s", k, o, name))
			}
			owner[k] = name
			mu.Unlock()
			<-ctx.Done()
			mu.Lock()
			delete(owner, k)
			mu.Unlock()
			return nil
		}
	}
	run := func(name string) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		g := &Group{KV: kv, Key: "correlation", N: n, Owner: name, TTL: 300 * time.Millisecond}
		go func() { defer close(done); _ = g.Run(ctx, lead(name)) }()
		return func() { cancel(); <-done }
	}
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: a=%d b=%d", what, count("a"), count("b"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stopA := run("a")
	wait("a alone takes all", func() bool { return count("a") == n })
	stopB := run("b")
	wait("b gets its share", func() bool { return count("a") == 2 && count("b") == 2 })
	stopA()
	wait("a stopped: b takes all", func() bool { return count("b") == n })
	stopB()
	if count("a")+count("b") != 0 {
		t.Errorf("owners left after both stopped: %v", owner)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(twice) > 0 {
		t.Errorf("two owners at once: %v", twice)
	}
}

// A holder that dies without releasing keeps its partitions until its
// leases expire; then the survivor takes them.
func TestGroupTakesOverAfterACrash(t *testing.T) {
	kv := store.NewMemKV()
	ttl := 300 * time.Millisecond
	// The dead instance's leases and membership, as a crash leaves them.
	for k := 0; k < 2; k++ {
		l := &Lease{KV: kv, Key: fmt.Sprintf("correlation.%d", k), Owner: "dead", TTL: ttl}
		if l.try(context.Background(), 0) == 0 {
			t.Fatal("could not take")
		}
	}
	var mu sync.Mutex
	held := map[int]time.Time{}
	start := time.Now()
	g := &Group{KV: kv, Key: "correlation", N: 2, Owner: "b", TTL: ttl}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = g.Run(ctx, func(ctx context.Context, k int) error {
			mu.Lock()
			held[k] = time.Now()
			mu.Unlock()
			<-ctx.Done()
			return nil
		})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(held)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("took %d of 2", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for k, at := range held {
		if at.Sub(start) < ttl {
			t.Errorf("partition %d taken %s after the crash, before the TTL", k, at.Sub(start))
		}
	}
}
