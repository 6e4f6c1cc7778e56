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
