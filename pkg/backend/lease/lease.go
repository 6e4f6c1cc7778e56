// Package lease elects one backend instance to do a job at a time (the
// correlation), through a key in a JetStream KV bucket written with
// compare-and-set: the holder renews it, a standby takes it over once it
// expires, and a holder that stops releases it at once.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/backend/store"
)

// KV is the bucket (store.KV).
type KV interface {
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error)
}

// Lease is one job's election.
type Lease struct {
	KV    KV
	Key   string
	Owner string        // this instance
	TTL   time.Duration // a holder that has not renewed for this long has lost it
	Log   *zap.Logger
	Now   func() time.Time
}

// record is the key's value.
type record struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// Holder is who holds the lease now ("" when nobody does).
func (l *Lease) Holder(ctx context.Context) string {
	b, _, err := l.KV.Get(ctx, l.Key)
	if err != nil {
		return ""
	}
	var r record
	if json.Unmarshal(b, &r) != nil || !l.now().Before(r.Expires) {
		return ""
	}
	return r.Owner
}

func (l *Lease) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// try takes or renews the lease; it returns the revision held, or 0.
func (l *Lease) try(ctx context.Context, held uint64) uint64 {
	b, rev, err := l.KV.Get(ctx, l.Key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0
	}
	if err == nil {
		var r record
		if json.Unmarshal(b, &r) == nil && r.Owner != l.Owner && l.now().Before(r.Expires) {
			return 0 // another holds it
		}
		if held != 0 && rev != held {
			return 0 // it changed hands in between
		}
	}
	nb, _ := json.Marshal(record{Owner: l.Owner, Expires: l.now().Add(l.TTL)})
	n, err := l.KV.Update(ctx, l.Key, nb, rev)
	if err != nil {
		return 0
	}
	return n
}

// Run holds the lease whenever it can until ctx ends, calling lead while
// it does; lead's context ends when the lease is lost (or ctx ends). An
// error from lead ends Run with it.
func (l *Lease) Run(ctx context.Context, lead func(context.Context) error) error {
	tick := l.TTL / 3
	for ctx.Err() == nil {
		rev := l.try(ctx, 0)
		if rev == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(tick):
			}
			continue
		}
		if l.Log != nil {
			l.Log.Info("lease taken", zap.String("key", l.Key), zap.String("owner", l.Owner))
		}
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- lead(lctx) }()
		var err error
	hold:
		for {
			select {
			case err = <-done:
				break hold
			case <-ctx.Done():
				break hold
			case <-time.After(tick):
				if rev = l.try(ctx, rev); rev == 0 {
					if l.Log != nil {
						l.Log.Warn("lease lost", zap.String("key", l.Key))
					}
					break hold
				}
			}
		}
		cancel()
		if err == nil {
			err = <-done
		}
		if rev != 0 {
			l.release(rev)
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// release hands the lease over at once (a stop, not a crash).
func (l *Lease) release(rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, _ := json.Marshal(record{Owner: "", Expires: l.now()})
	_, _ = l.KV.Update(ctx, l.Key, b, rev)
}
