package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound is a missing key.
var ErrNotFound = errors.New("not found")

// ErrExists is a key created twice.
var ErrExists = errors.New("exists")

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

// Create sets a key that must not exist.
func (k *KV) Create(ctx context.Context, key string, v []byte) error {
	_, err := k.kv.Create(ctx, key, v)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return ErrExists
	}
	return err
}

// Keys lists the keys.
func (k *KV) Keys(ctx context.Context) ([]string, error) {
	ks, err := k.kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	return ks, err
}
