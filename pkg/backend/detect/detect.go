// Package detect is the backend's detection stage: cloud records from the
// cloud stream through the cloud rules (pkg/rules/cloud), and agents'
// alerts from the agent stream unchanged as runtime detections
// (alert.FromAlert), all published to the detection stream. Input that
// cannot be decoded is counted and acked, never redelivered forever; a
// publish failure leaves the batch for redelivery, so nothing is lost.
package detect

import (
	"context"
	"encoding/json"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/rules/cloud"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// Publisher stores detections (store.Conn).
type Publisher interface {
	Publish(ctx context.Context, msgs []store.Msg) (store.PublishResult, error)
}

// Stats are the stage's counters.
type Stats struct {
	Records       atomic.Uint64 // cloud records evaluated
	Alerts        atomic.Uint64 // agent alerts turned into detections
	Detections    atomic.Uint64 // detections published (new)
	Duplicates    atomic.Uint64 // detections already stored
	Malformed     atomic.Uint64 // messages that could not be decoded (acked, counted)
	PublishErrors atomic.Uint64 // batches left for redelivery
	Redelivered   atomic.Uint64 // messages seen more than once
	BySource      [4]atomic.Uint64
}

// Stage evaluates records and alerts.
type Stage struct {
	det  atomic.Pointer[cloud.Detector]
	next atomic.Pointer[cloud.Ruleset] // rules to switch to at the next batch
	pub  Publisher
	log  *zap.Logger
	// ClusterAccounts names the AWS account of Kubernetes clusters: their
	// detections get it as a resource (their correlation scope).
	ClusterAccounts map[string]string
	Stats           Stats
}

// New makes the stage.
func New(rs *cloud.Ruleset, pub Publisher, log *zap.Logger) *Stage {
	s := &Stage{pub: pub, log: log}
	s.det.Store(cloud.NewDetector(rs))
	return s
}

// Detector is the stage's cloud detector (its counters).
func (s *Stage) Detector() *cloud.Detector { return s.det.Load() }

// Swap makes the stage evaluate rs from its next batch on (a pushed rule
// bundle). Threshold and first-seen rules start over; the counters carry on.
func (s *Stage) Swap(rs *cloud.Ruleset) { s.next.Store(rs) }

// detector is the detector for a batch, switching rules when asked to.
func (s *Stage) detector() *cloud.Detector {
	if rs := s.next.Swap(nil); rs != nil {
		old, nd := s.det.Load(), cloud.NewDetector(rs)
		nd.Stats.Records.Store(old.Stats.Records.Load())
		nd.Stats.Matches.Store(old.Stats.Matches.Load())
		nd.Stats.Detections.Store(old.Stats.Detections.Load())
		nd.Stats.EvalErrors.Store(old.Stats.EvalErrors.Load())
		nd.Stats.Evicted.Store(old.Stats.Evicted.Load())
		s.det.Store(nd)
	}
	return s.det.Load()
}

// Message is a detection as a detection-stream message.
func Message(d *alert.Detection) (store.Msg, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return store.Msg{}, err
	}
	key := cloudevent.Token(d.Scope()) // the partition's key
	env := d.Env
	if env == "" {
		env = "default"
	}
	return store.Msg{Subject: wire.SourceSubject(cloudevent.Token(env), wire.KindDetection, string(d.Source), key), ID: d.ID, Data: b}, nil
}

// CloudBatch handles a batch of cloud-stream messages, each one record or
// a batch of them (a store.Handler). A record that cannot be decoded is
// counted, the others of its message still evaluated.
func (s *Stage) CloudBatch(ctx context.Context, msgs []store.Msg) []error {
	det := s.detector()
	return s.batch(ctx, msgs, func(m store.Msg) (dets []alert.Detection, malformed int) {
		cloudevent.EachWire(m.Data, func(r cloudevent.Record, err error) {
			if err != nil {
				malformed++
				return
			}
			s.Stats.Records.Add(1)
			dets = append(dets, det.Detect(&r)...)
		})
		return dets, malformed
	})
}

// AlertBatch handles a batch of agent alerts (a store.Handler).
func (s *Stage) AlertBatch(ctx context.Context, msgs []store.Msg) []error {
	return s.batch(ctx, msgs, func(m store.Msg) ([]alert.Detection, int) {
		var a alert.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil || a.ID == "" {
			return nil, 1
		}
		if a.Host.Env == "" {
			if env, _, _, ok := wire.ParseSubject(m.Subject); ok {
				a.Host.Env = env
			}
		}
		s.Stats.Alerts.Add(1)
		return []alert.Detection{alert.FromAlert(&a)}, 0
	})
}

// addAccount gives a detection of a cluster with a known account that
// account, unless it names one.
func (s *Stage) addAccount(d *alert.Detection) {
	if len(s.ClusterAccounts) == 0 {
		return
	}
	var acct string
	for _, r := range d.Resources {
		switch r.Kind {
		case alert.KindAccount:
			return
		case alert.KindCluster:
			if a := s.ClusterAccounts[r.ID]; a != "" && acct == "" {
				acct = a
			}
		}
	}
	if acct != "" {
		d.Resources = append(d.Resources, alert.Entity{Kind: alert.KindAccount, ID: acct})
	}
}

// batch turns each message into detections (and a count of what in it
// could not be decoded: counted and acked) and publishes them.
func (s *Stage) batch(ctx context.Context, msgs []store.Msg, each func(store.Msg) ([]alert.Detection, int)) []error {
	var out []store.Msg
	for _, m := range msgs {
		if m.Delivered > 1 {
			s.Stats.Redelivered.Add(1)
		}
		dets, malformed := each(m)
		s.Stats.Malformed.Add(uint64(malformed))
		for i := range dets {
			s.addAccount(&dets[i])
			dm, err := Message(&dets[i])
			if err != nil {
				s.Stats.Malformed.Add(1)
				continue
			}
			out = append(out, dm)
		}
	}
	return s.publish(ctx, msgs, out)
}

// publish stores a batch's detections; on failure every message of the
// batch is redelivered (the detection ids make the retry idempotent).
func (s *Stage) publish(ctx context.Context, in, out []store.Msg) []error {
	if len(out) == 0 {
		return nil
	}
	res, err := s.pub.Publish(ctx, out)
	s.Stats.Detections.Add(uint64(res.Published))
	s.Stats.Duplicates.Add(uint64(res.Duplicates))
	if err == nil {
		return nil
	}
	s.Stats.PublishErrors.Add(1)
	s.log.Warn("detections not stored: the batch will be redelivered", zap.Error(err), zap.Int("detections", len(out)))
	return store.Retry(len(in), err)
}
