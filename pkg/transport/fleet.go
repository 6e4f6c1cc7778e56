package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/vigil-sec/vigil/pkg/wire"
)

// RefusedError is the backend's refusal (a revoked or unknown token).
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return "the backend refused enrollment: " + e.Msg }

// EnsureSeed returns the NKey user public key of the seed at path,
// creating the seed (0600) when there is none. The private key never
// leaves the host.
func EnsureSeed(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if err := checkSecret(path); err != nil {
			return "", err
		}
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
		if err != nil {
			return "", fmt.Errorf("nkey seed %s: %w", path, err)
		}
		return kp.PublicKey()
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	seed, _ := kp.Seed()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(seed, '\n'), 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return kp.PublicKey()
}

// RequestEnrollment connects as the enrolling user, signing with the seed
// at seedPath, and asks the backend for a credential. opts carry TLS.
func RequestEnrollment(ctx context.Context, url, seedPath string, req wire.EnrollRequest, opts []nats.Option) (wire.EnrollResponse, error) {
	var resp wire.EnrollResponse
	nk, err := nats.NkeyOptionFromSeed(seedPath)
	if err != nil {
		return resp, fmt.Errorf("nkey seed %s: %w", seedPath, err)
	}
	o := append([]nats.Option{nk, nats.UserInfo(wire.EnrollUser, ""), nats.Name("vigil-agent enroll " + req.HostID),
		nats.CustomInboxPrefix(wire.EnrollInbox(req.NKey)), nats.Timeout(10 * time.Second), nats.NoReconnect()}, opts...)
	nc, err := nats.Connect(url, o...)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "authorization") {
			return resp, fmt.Errorf("nats %s refused the enrolling connection (%w): is the backend's enrollment enabled, and its server configured for the auth callout?", wire.RedactURL(url), err)
		}
		return resp, fmt.Errorf("nats connect %s: %w", wire.RedactURL(url), err)
	}
	defer nc.Close()
	body, _ := json.Marshal(req)
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	m, err := nc.RequestWithContext(rctx, wire.EnrollSubject, body)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return resp, errors.New("no backend answers enrollment requests (is it running with enrollment enabled?)")
		}
		return resp, fmt.Errorf("enrollment request: %w", err)
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return resp, fmt.Errorf("enrollment answer unreadable: %w", err)
	}
	if resp.Error != "" {
		return resp, &RefusedError{Msg: resp.Error}
	}
	if resp.HostID != req.HostID || resp.InboxPrefix == "" {
		return resp, fmt.Errorf("enrollment answer for host %q, want %q", resp.HostID, req.HostID)
	}
	return resp, nil
}

// WatchBundle calls fn with the environment's pushed rule bundle at start
// and at every change (nil when it is deleted), until ctx ends. A bucket
// that does not exist yet or a refused watch is reported through fail and
// retried every retry.
func (p *Publisher) WatchBundle(ctx context.Context, env string, retry time.Duration, fn func(data []byte, rev uint64), fail func(error)) {
	for ctx.Err() == nil {
		err := p.watchBundle(ctx, env, fn)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			fail(err)
		}
		p.pause(ctx, retry)
	}
}

func (p *Publisher) watchBundle(ctx context.Context, env string, fn func([]byte, uint64)) error {
	if !p.nc.IsConnected() {
		return nil
	}
	kv, err := p.js.KeyValue(ctx, wire.RulesBucket)
	if err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil // no backend has created it: nothing pushed
		}
		return fmt.Errorf("rules bucket: %w", err)
	}
	w, err := kv.Watch(ctx, wire.RulesKey(env))
	if err != nil {
		return fmt.Errorf("watch rules: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("rules watch closed")
			}
			if e == nil {
				continue // the current value was delivered
			}
			if e.Operation() == jetstream.KeyValuePut {
				fn(e.Value(), e.Revision())
			} else {
				fn(nil, e.Revision())
			}
		}
	}
}
