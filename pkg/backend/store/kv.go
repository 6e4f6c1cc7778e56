package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// ErrNotFound is a missing key.
var ErrNotFound = errors.New("not found")

// KV is a JetStream key-value bucket.
type KV struct {
	kv     jetstream.KeyValue
	name   string
	resets *atomic.Uint64 // the connection's follower resets
	log    *zap.Logger
}

// EnsureKV creates the bucket or updates it.
func (c *Conn) EnsureKV(ctx context.Context, bucket string, replicas int) (*KV, error) {
	return c.EnsureKVTTL(ctx, bucket, replicas, 0)
}

// EnsureKVTTL is EnsureKV for a bucket whose entries expire ttl after
// they were written (0: never). Like EnsureStream it waits for a cluster
// that is not ready yet.
func (c *Conn) EnsureKVTTL(ctx context.Context, bucket string, replicas int, ttl time.Duration) (*KV, error) {
	var kv jetstream.KeyValue
	err := c.retryEnsure(ctx, "kv "+bucket, func(ctx context.Context) error {
		var err error
		kv, err = c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Replicas: replicas, Storage: jetstream.FileStorage, History: 1, TTL: ttl})
		return err
	})
	if err == nil {
		err = c.awaitLeader(ctx, "KV_"+bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", bucket, err)
	}
	return &KV{kv: kv, name: bucket, resets: &c.followResets, log: c.log}, nil
}

// Get returns a key's value and revision.
func (k *KV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := k.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return e.Value(), e.Revision(), nil
}

// Put sets a key.
func (k *KV) Put(ctx context.Context, key string, v []byte) error {
	_, err := k.kv.Put(ctx, key, v)
	return err
}

// Keys lists the bucket's keys (none: an empty list).
func (k *KV) Keys(ctx context.Context) ([]string, error) {
	keys, err := k.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	sort.Strings(keys)
	return keys, err
}

// Delete removes a key.
func (k *KV) Delete(ctx context.Context, key string) error { return k.kv.Delete(ctx, key) }

// ErrConflict is a compare-and-set that lost: the key changed since it
// was read.
var ErrConflict = errors.New("revision conflict")

// Update sets a key only if it is still at revision rev (0: only if it
// does not exist), and returns the new revision.
func (k *KV) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	var n uint64
	var err error
	if rev == 0 {
		n, err = k.kv.Create(ctx, key, v)
	} else {
		n, err = k.kv.Update(ctx, key, v, rev)
	}
	if isConflict(err) {
		return 0, ErrConflict
	}
	return n, err
}

// isConflict tells a compare-and-set that lost: 10071 on R1 streams, 10164
// on replicated ones (nats.go maps the latter to ErrKeyRevisionMismatch);
// CI saw an analyst's triage fail with "key revision mismatch" on a
// cluster instead of being retried.
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		(errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant))
}

// Watch calls fn with every key's value (nil when deleted) from the
// bucket's start, then with every change, until ctx ends; ready is called
// once the existing keys have been delivered. Like Follow, a watcher that
// closes or stops being fed (FollowCheck without an update while the
// bucket has newer revisions) is re-created from the last revision seen,
// and one that cannot be made (a node down, a leader election) is tried
// again with a backoff.
func (k *KV) Watch(ctx context.Context, fn func(key string, v []byte, rev uint64), ready func()) error {
	var last uint64
	var retry backoff
	for {
		var opts []jetstream.WatchOpt
		if last > 0 {
			opts = append(opts, jetstream.ResumeFromRevision(last+1))
		}
		err := k.watch(ctx, opts, &last, fn, &ready)
		if ctx.Err() != nil {
			return nil
		}
		if k.resets != nil {
			k.resets.Add(1)
		}
		if err == nil {
			retry = backoff{}
			continue
		}
		// The watcher could not be made again (a node of the cluster
		// died, the stream's leader is being elected): like Follow, try
		// again from the last revision seen, never give the view up.
		if k.log != nil {
			k.log.Warn("KV watcher failed: retrying", zap.String("bucket", k.name), zap.Uint64("from_revision", last+1),
				zap.Duration("in", retry.delay()), zap.Error(err))
		}
		if !retry.wait(ctx) {
			return nil
		}
	}
}

// watch runs one watcher until ctx ends or it stalls (nil either way).
func (k *KV) watch(ctx context.Context, opts []jetstream.WatchOpt, last *uint64, fn func(string, []byte, uint64), ready *func()) error {
	w, err := k.kv.WatchAll(ctx, opts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer func() { _ = w.Stop() }()
	idle := time.NewTimer(FollowCheck)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-idle.C:
			if k.lastRevision(ctx) > *last {
				return nil
			}
			idle.Reset(FollowCheck)
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			idle.Reset(FollowCheck)
			if e == nil { // the initial values are all delivered
				if *ready != nil {
					(*ready)()
					*ready = nil
				}
				continue
			}
			*last = e.Revision()
			if e.Operation() != jetstream.KeyValuePut {
				fn(e.Key(), nil, e.Revision())
				continue
			}
			fn(e.Key(), e.Value(), e.Revision())
		}
	}
}

// lastRevision is the bucket's last revision (0 if unknown or empty).
func (k *KV) lastRevision(ctx context.Context) uint64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := k.kv.Status(ctx)
	if err != nil {
		return 0
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo().State.Msgs == 0 {
		return 0
	}
	return bs.StreamInfo().State.LastSeq
}
