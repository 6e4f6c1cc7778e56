package backend

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/backend/api"
	"github.com/vigil-sec/vigil/pkg/backend/fleet"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/cloud"
	// The runtime schema: pushed bundles are checked whole before agents get them.
	_ "github.com/vigil-sec/vigil/pkg/rules/host"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// fleetState is enrollment (the auth callout, the enrollment service, the
// tokens and the inventory) and the central rule bundles.
type fleetState struct {
	issuer  nkeys.KeyPair // nil: no enrollment
	tokens  *fleet.Tokens
	hosts   *fleet.Hosts
	callout *fleet.Callout
	bundles *store.KV

	mu     sync.Mutex
	bundle BundleStatus
}

// BundleStatus is the pushed rule bundle this instance runs (cloud rules).
type BundleStatus struct {
	Version string    `json:"version,omitempty"`
	Applied time.Time `json:"applied,omitzero"`
	// Error is why the latest pushed bundle is not running ("" when it is).
	Error string `json:"error,omitempty"`
}

// EnrollmentStatus is the status of token enrollment.
type EnrollmentStatus struct {
	Enabled bool `json:"enabled"`
	// Issuer is the public account key nats-server must trust for the
	// callout (authorization.auth_callout.issuer on an external cluster).
	Issuer    string `json:"issuer,omitempty"`
	Allowed   uint64 `json:"connections_allowed"`
	Enrolling uint64 `json:"enrolling_connections"`
	Refused   uint64 `json:"connections_refused"`
}

// loadIssuer reads (or, embedded, creates) the issuer key.
func (b *Backend) loadIssuer() error {
	path := b.cfg.IssuerSeedPath()
	if path == "" {
		return nil
	}
	kp, err := fleet.LoadIssuer(path, b.cfg.Embedded() && b.cfg.Enrollment.IssuerSeed == "")
	if err != nil {
		return err
	}
	b.fleet.issuer = kp
	return nil
}

func (b *Backend) issuerPublicKey() string {
	if b.fleet.issuer == nil {
		return ""
	}
	pub, _ := b.fleet.issuer.PublicKey()
	return pub
}

// startFleet ensures the buckets and starts the callout, the enrollment
// service and the bundle watch.
func (b *Backend) startFleet(ctx context.Context, run func(string, func(context.Context) error)) error {
	var err error
	if b.fleet.bundles, err = b.conn.EnsureKV(ctx, wire.RulesBucket, b.cfg.Replicas()); err != nil {
		return err
	}
	run("rules-bundle", func(c context.Context) error {
		key := wire.RulesKey(b.cfg.Env)
		return b.fleet.bundles.Watch(c, func(k string, v []byte, _ uint64) {
			if k == key && v != nil {
				b.applyBundle(v)
			}
		}, nil)
	})
	if b.fleet.issuer == nil {
		return nil
	}
	hostKV, err := b.conn.EnsureKV(ctx, wire.HostBucket, b.cfg.Replicas())
	if err != nil {
		return err
	}
	tokKV, err := b.conn.EnsureKV(ctx, wire.EnrollTokenBucket, b.cfg.Replicas())
	if err != nil {
		return err
	}
	b.fleet.tokens = &fleet.Tokens{KV: tokKV}
	b.fleet.hosts = &fleet.Hosts{KV: hostKV, Tokens: b.fleet.tokens}
	b.fleet.callout = &fleet.Callout{Issuer: b.fleet.issuer, Hosts: b.fleet.hosts, TTL: b.cfg.Enrollment.CredentialTTL, Log: b.log.Named("auth")}
	log := b.log.Named("enroll")
	// Subscribed before Run reports ready: agents may connect then.
	ready := make(chan struct{}, 2)
	serve := func(name, subject, queue string, fn func(context.Context, []byte) []byte) {
		run(name, func(c context.Context) error {
			return b.conn.Serve(c, subject, queue, fn, func() { ready <- struct{}{} })
		})
	}
	serve("auth-callout", wire.AuthCalloutSubject, "vigil-auth", b.fleet.callout.Handle)
	serve("enroll", wire.EnrollSubject, "vigil-enroll", b.fleet.hosts.Service(log))
	timeout := time.After(30 * time.Second)
	for range 2 {
		select {
		case <-ready:
		case <-timeout:
			return errors.New("enrollment: the callout and enrollment services did not subscribe within 30s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.log.Info("enrollment serving", zap.String("issuer", b.issuerPublicKey()))
	return nil
}

// applyBundle recompiles the cloud rules with a pushed bundle (vendor, the
// bundle, then local paths) and swaps them in; a bundle that does not
// compile leaves the running rules and is reported in status.
func (b *Backend) applyBundle(v []byte) {
	bd, err := rules.ParseBundle(v)
	var rs *cloud.Ruleset
	if err == nil {
		rs, err = cloud.LoadAndCompile(rules.Sources{Builtin: b.cfg.Rules.Builtin, VendorDir: rules.DefaultVendorDir,
			Paths: b.cfg.Rules.Paths, Inline: bd.Inline()})
	}
	b.fleet.mu.Lock()
	defer b.fleet.mu.Unlock()
	if err != nil {
		b.fleet.bundle.Error = err.Error()
		b.log.Error("pushed rules refused, keeping the running rules", zap.Error(err))
		return
	}
	b.stage.Swap(rs)
	b.fleet.bundle = BundleStatus{Version: bd.Version, Applied: time.Now().UTC()}
	b.log.Info("pushed rules running", zap.String("bundle", bd.Version), zap.Int("cloud_rules", len(rs.Rules)))
}

func (b *Backend) bundleStatus() BundleStatus {
	b.fleet.mu.Lock()
	defer b.fleet.mu.Unlock()
	return b.fleet.bundle
}

func (b *Backend) enrollmentStatus() EnrollmentStatus {
	s := EnrollmentStatus{Enabled: b.fleet.issuer != nil, Issuer: b.issuerPublicKey()}
	if c := b.fleet.callout; c != nil {
		s.Allowed, s.Enrolling, s.Refused = c.Allowed.Load(), c.Enrolling.Load(), c.Refused.Load()
	}
	return s
}

// fleetAPI is what the API serves of the fleet.
func (b *Backend) fleetAPI() *api.Fleet {
	f := &api.Fleet{Tokens: b.fleet.tokens, Hosts: b.fleet.hosts, Bundles: b.fleet.bundles,
		Check: func(bd *rules.Bundle) error { return bd.Check(b.cfg.Rules.Builtin, rules.DefaultVendorDir) }}
	if b.bus != nil {
		f.Disconnect = func(id string) int { return b.bus.Disconnect(fleet.HostUserPrefix + id) }
	}
	return f
}
