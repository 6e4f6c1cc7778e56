package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound is a missing key.
var ErrNotFound = errors.New("not found")

// KV is a JetStream key-value bucket.
type KV struct{ kv jetstream.KeyValue }

// EnsureKV creates the bucket or updates it.
func (c *Conn) EnsureKV(ctx context.Context, bucket string, replicas int) (*KV, error) {
	kv, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Replicas: replicas, Storage: jetstream.FileStorage, History: 1})
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", bucket, err)
	}
	return &KV{kv: kv}, nil
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
	var apiErr *jetstream.APIError
	if errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence) {
		return 0, ErrConflict
	}
	return n, err
}

// Watch calls fn with every key's value (nil when deleted) from the
// bucket's start, then with every change, until ctx ends; ready is called
// once the existing keys have been delivered.
func (k *KV) Watch(ctx context.Context, fn func(key string, v []byte, rev uint64), ready func()) error {
	w, err := k.kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil { // the initial values are all delivered
				if ready != nil {
					ready()
					ready = nil
				}
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				fn(e.Key(), nil, e.Revision())
				continue
			}
			fn(e.Key(), e.Value(), e.Revision())
		}
	}
}
