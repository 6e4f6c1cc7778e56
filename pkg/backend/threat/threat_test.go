package threat

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/correlate"
)

type bus struct{ notified []string }

func (b *bus) Publish(_ context.Context, msgs []store.Msg) (store.PublishResult, error) {
	return store.PublishResult{Published: len(msgs)}, nil
}
func (b *bus) Notify(subject string, _ []byte) error {
	b.notified = append(b.notified, subject)
	return nil
}

var at = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func detMsg(id, rule string, sev alert.Severity, minute int) store.Msg {
	d := alert.Detection{Schema: alert.DetectionSchema, ID: id, Source: alert.SourceRuntime, Rule: rule, Severity: sev, Tactic: "execution",
		Time: at.Add(time.Duration(minute) * time.Minute), Env: "prod", Resources: []alert.Entity{{Kind: alert.KindHost, ID: "h-1"}}}
	b, _ := json.Marshal(&d)
	return store.Msg{Data: b}
}

func stored(t *testing.T, kv *store.MemKV, id string) alert.Threat {
	t.Helper()
	b, _, err := kv.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var th alert.Threat
	if err := json.Unmarshal(b, &th); err != nil {
		t.Fatal(err)
	}
	return th
}

// The engine's updates keep what an analyst set; a write that fails leaves
// the batch for redelivery and is retried with the next one; malformed
// messages are counted, not fatal.
func TestStageKeepsTriageAndRetriesWrites(t *testing.T) {
	kv := store.NewMemKV()
	b := &bus{}
	st := New(1, func() *correlate.Engine { return correlate.New(correlate.Config{}, nil) }, kv, b, zap.NewNop())
	s := st.Term(0)
	ctx := context.Background()
	if errs := s.Detections(ctx, []store.Msg{detMsg("d1", "Reverse shell", alert.High, 0), {Data: []byte("{nope")}}); errs != nil {
		t.Fatal(errs)
	}
	id := correlate.ThreatID("d1")
	if st.Stats.Malformed.Load() != 1 || len(b.notified) != 1 || b.notified[0] != "vigil.prod.threat."+id {
		t.Fatalf("malformed %d, notified %v", st.Stats.Malformed.Load(), b.notified)
	}
	// An analyst takes it.
	view := NewView(kv)
	status := alert.StatusInProgress
	if _, err := view.Update(ctx, id, alert.ThreatUpdate{Status: &status, Note: "mine"}, "alice", at); err != nil {
		t.Fatal(err)
	}
	// A write fails: the batch is to be redelivered.
	kv.Fail = errors.New("no quorum")
	errs := s.Detections(ctx, []store.Msg{detMsg("d2", "Crontab modified", alert.Medium, 1)})
	if len(errs) != 1 || errs[0] == nil || st.Stats.SaveErrors.Load() != 1 {
		t.Fatalf("errs %v", errs)
	}
	kv.Fail = nil
	// Redelivered: the engine has it already, the pending write goes out.
	if errs := s.Detections(ctx, []store.Msg{detMsg("d2", "Crontab modified", alert.Medium, 1)}); errs != nil {
		t.Fatal(errs)
	}
	th := stored(t, kv, id)
	if len(th.Timeline) != 2 || th.Status != alert.StatusInProgress || len(th.Notes) != 1 || th.Notes[0].Author != "alice" {
		t.Errorf("stored %+v", th)
	}
}

// With partitions, a term restores and follows only the threats of its
// partition (from their scope), so two owners never hold one threat.
func TestTermsOwnTheirPartitionsThreats(t *testing.T) {
	kv := store.NewMemKV()
	const n = 4
	s := New(n, func() *correlate.Engine { return correlate.New(correlate.Config{}, nil) }, kv, &bus{}, zap.NewNop())
	var stored []*alert.Threat
	owners := map[int]int{}
	for _, scope := range []string{"111122223333", "444455556666", "777788889999", "h-1", "h-2", "prod"} {
		th := &alert.Threat{Schema: alert.ThreatSchema, ID: "t-" + scope, Scope: scope, Status: alert.StatusOpen, FirstSeen: at, LastSeen: at,
			Resources: []alert.Entity{{Kind: alert.KindHost, ID: scope}},
			Timeline:  []alert.TimelineEntry{{Time: at, Detection: "d-" + scope, Rule: "r", Severity: alert.High}}}
		stored = append(stored, th)
		owners[s.Partition(th)]++
	}
	if len(owners) < 2 {
		t.Fatalf("every scope in one partition: %v", owners)
	}
	for k := range n {
		s.Term(k).Begin(correlate.New(correlate.Config{}, nil), stored)
		if got := s.Term(k).Engine().Len(); got != owners[k] {
			t.Errorf("partition %d restored %d threats, want %d", k, got, owners[k])
		}
	}
	if got := s.Held(); len(got) != n {
		t.Errorf("held %v", got)
	}
	s.Term(1).End()
	if slices.Contains(s.Held(), 1) {
		t.Errorf("held %v after End", s.Held())
	}
}
