package store

import (
	"context"
	"sort"
	"sync"
)

// MemKV is an in-memory bucket with revisions and compare-and-set, as
// JetStream's: for the tests of what uses a KV.
type MemKV struct {
	mu  sync.Mutex
	m   map[string][]byte
	rev map[string]uint64
	// Fail, when set, is returned by the next writes.
	Fail error
}

// NewMemKV makes an empty one.
func NewMemKV() *MemKV { return &MemKV{m: map[string][]byte{}, rev: map[string]uint64{}} }

// Get returns a key's value and revision.
func (k *MemKV) Get(_ context.Context, key string) ([]byte, uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	if !ok {
		return nil, 0, ErrNotFound
	}
	return v, k.rev[key], nil
}

// Put sets a key.
func (k *MemKV) Put(_ context.Context, key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.Fail != nil {
		return k.Fail
	}
	k.m[key] = v
	k.rev[key]++
	return nil
}

// Delete removes a key.
func (k *MemKV) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.Fail != nil {
		return k.Fail
	}
	delete(k.m, key)
	delete(k.rev, key)
	return nil
}

// Update sets a key if it is at rev (0: absent).
func (k *MemKV) Update(_ context.Context, key string, v []byte, rev uint64) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.Fail != nil {
		return 0, k.Fail
	}
	if k.rev[key] != rev {
		return 0, ErrConflict
	}
	k.m[key] = v
	k.rev[key]++
	return k.rev[key], nil
}

// Keys lists the keys, sorted.
func (k *MemKV) Keys(_ context.Context) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, 0, len(k.m))
	for key := range k.m {
		out = append(out, key)
	}
	sort.Strings(out)
	return out, nil
}
