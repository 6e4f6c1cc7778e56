package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

func TestTransientClusterErrors(t *testing.T) {
	for err, want := range map[error]bool{
		&jetstream.APIError{ErrorCode: 10005, Description: "no suitable peers for placement, peer offline"}: true,
		&jetstream.APIError{ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}:      true,
		fmt.Errorf("kv x: %w", context.DeadlineExceeded):                                                    true,
		fmt.Errorf("admin token: %w", jetstream.ErrNoStreamResponse):                                        true, // a stream without a leader yet (CI)
		nats.ErrNoResponders: true,
		&jetstream.APIError{ErrorCode: 10023, Description: "insufficient resources"}:     false,
		&jetstream.APIError{ErrorCode: 10074, Description: "replicas > 1 not supported"}: false,
		errors.New("other"): false,
	} {
		if got := transient(err); got != want {
			t.Errorf("transient(%v) = %v, want %v", err, got, want)
		}
	}
}

// A stream or bucket operation is retried while the cluster is not ready,
// up to EnsureWait, and not at all for a lasting error or with no wait.
func TestRetryEnsure(t *testing.T) {
	noPeers := &jetstream.APIError{ErrorCode: 10005, Description: "no suitable peers for placement, peer offline"}
	c := &Conn{log: zap.NewNop(), ensureWait: 10 * time.Second}
	calls := 0
	err := c.retryEnsure(context.Background(), "kv t", func(context.Context) error {
		if calls++; calls < 3 {
			return noPeers
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("err %v after %d calls, want success on the third", err, calls)
	}
	calls = 0
	lasting := &jetstream.APIError{ErrorCode: 10023, Description: "insufficient resources"}
	if err := c.retryEnsure(context.Background(), "kv t", func(context.Context) error { calls++; return lasting }); !errors.Is(err, lasting) || calls != 1 {
		t.Errorf("a lasting error: %v after %d calls", err, calls)
	}
	calls = 0
	once := &Conn{log: zap.NewNop()}
	if err := once.retryEnsure(context.Background(), "kv t", func(context.Context) error { calls++; return noPeers }); err == nil || calls != 1 {
		t.Errorf("no EnsureWait: %v after %d calls", err, calls)
	}
}

// A follower's pause between failed tries: 1 s, doubling up to 10 s, and
// from 1 s again after a success (the zero value).
func TestBackoffDoublesUpToTenSeconds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // wait returns at once, false, and still moves the delay
	var b backoff
	var got []time.Duration
	for range 6 {
		got = append(got, b.delay())
		if b.wait(ctx) {
			t.Fatal("waited with ctx done")
		}
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	if b = (backoff{}); b.delay() != time.Second {
		t.Errorf("reset: %v", b.delay())
	}
}
