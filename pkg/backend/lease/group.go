package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/backend/store"
)

// Group shares N partitions among the instances that run it. Each
// partition is a lease (key Key.k, or Key alone when N is 1) held by one
// instance at a time. Instances say they are alive in one key
// (Key.members); each takes at most its fair share (N divided by the live
// instances, rounded up) of the free partitions, hands over what it holds
// above that share one partition per tick, and takes a partition left free
// for two ticks whatever its share, so none stays without an owner.
type Group struct {
	KV    KV
	Key   string
	N     int
	Owner string
	TTL   time.Duration
	Log   *zap.Logger
	Now   func() time.Time
}

// PartitionKey is partition k's lease key.
func (g *Group) PartitionKey(k int) string {
	if g.N <= 1 {
		return g.Key
	}
	return fmt.Sprintf("%s.%d", g.Key, k)
}

func (g *Group) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// held is one partition this instance holds: its lease, the revision, and
// the running term.
type held struct {
	l      *Lease
	rev    uint64
	cancel context.CancelFunc
	done   chan error
}

// Run takes part in the group until ctx ends, calling lead(ctx, k) for each
// partition k while it holds it; lead's context ends when the partition is
// lost or handed over. An error from lead ends Run with it.
func (g *Group) Run(ctx context.Context, lead func(context.Context, int) error) error {
	tick := g.TTL / 3
	leases := make([]*Lease, max(g.N, 1))
	for k := range leases {
		leases[k] = &Lease{KV: g.KV, Key: g.PartitionKey(k), Owner: g.Owner, TTL: g.TTL, Now: g.Now}
	}
	mine := map[int]*held{}
	freeSince := map[int]int{} // partition -> ticks seen free
	var wg sync.WaitGroup
	stop := func(k int) error {
		h := mine[k]
		h.cancel()
		err := <-h.done
		h.l.release(h.rev)
		delete(mine, k)
		return err
	}
	defer func() {
		for k := range mine {
			_ = stop(k)
		}
		g.leave()
		wg.Wait()
	}()
	errc := make(chan error, len(leases))
	for {
		live := g.join(ctx)
		share := (len(leases) + live - 1) / max(live, 1)
		// Renew what is held; a term that ended with an error ends Run.
		for k, h := range mine {
			select {
			case err := <-h.done:
				h.done <- err // stop reads it
				if err := stop(k); err != nil && ctx.Err() == nil {
					return err
				}
				continue
			default:
			}
			if h.rev = h.l.try(ctx, h.rev); h.rev == 0 {
				if g.Log != nil {
					g.Log.Warn("lease lost", zap.String("key", h.l.Key))
				}
				h.cancel()
				if err := <-h.done; err != nil && g.Log != nil {
					g.Log.Warn("term ended", zap.String("key", h.l.Key), zap.Error(err))
				}
				delete(mine, k)
			}
		}
		// Hand over one partition above the share.
		if len(mine) > share {
			last := -1
			for k := range mine {
				last = max(last, k)
			}
			if g.Log != nil {
				g.Log.Info("lease handed over", zap.String("key", leases[last].Key), zap.Int("share", share), zap.Int("live", live))
			}
			if err := stop(last); err != nil && ctx.Err() == nil {
				return err
			}
		}
		// Take free partitions up to the share, or any left free too long.
		for k, l := range leases {
			if mine[k] != nil || ctx.Err() != nil {
				continue
			}
			if l.Holder(ctx) != "" {
				delete(freeSince, k)
				continue
			}
			freeSince[k]++
			if len(mine) >= share && freeSince[k] < 3 {
				continue
			}
			rev := l.try(ctx, 0)
			if rev == 0 {
				continue
			}
			delete(freeSince, k)
			if g.Log != nil {
				g.Log.Info("lease taken", zap.String("key", l.Key), zap.String("owner", g.Owner), zap.Int("share", share), zap.Int("live", live))
			}
			lctx, cancel := context.WithCancel(ctx)
			h := &held{l: l, rev: rev, cancel: cancel, done: make(chan error, 1)}
			mine[k] = h
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				err := lead(lctx, k)
				h.done <- err
				if err != nil {
					select {
					case errc <- err: // wakes the loop
					default:
					}
				}
			}(k)
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			_ = err // handled on the next pass, from the term's done channel
		case <-time.After(tick):
		}
	}
}

// members is the value of Key.members: each live instance and when its
// membership expires.
type members map[string]time.Time

func (g *Group) membersKey() string { return g.Key + ".members" }

// join renews this instance's membership and returns how many are live.
func (g *Group) join(ctx context.Context) int { return g.update(ctx, g.now().Add(g.TTL)) }

// leave removes this instance's membership (a stop, not a crash).
func (g *Group) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.update(ctx, time.Time{})
}

// update sets this instance's expiry (zero: removes it) with
// compare-and-set, drops expired members, and counts the live ones
// (at least this one when it is joining, even if the bucket fails).
func (g *Group) update(ctx context.Context, expires time.Time) int {
	for attempt := 0; attempt < 5; attempt++ {
		b, rev, err := g.KV.Get(ctx, g.membersKey())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			break
		}
		m := members{}
		if err == nil {
			_ = json.Unmarshal(b, &m)
		}
		now := g.now()
		for o, e := range m {
			if !now.Before(e) {
				delete(m, o)
			}
		}
		if expires.IsZero() {
			delete(m, g.Owner)
		} else {
			m[g.Owner] = expires
		}
		nb, _ := json.Marshal(m)
		if _, err := g.KV.Update(ctx, g.membersKey(), nb, rev); err == nil {
			return max(len(m), 1)
		} else if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	return 1
}
