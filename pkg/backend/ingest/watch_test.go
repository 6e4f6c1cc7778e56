package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
)

type memJournal struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (j *memJournal) Get(_ context.Context, k string) ([]byte, uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	v, ok := j.m[k]
	if !ok {
		return nil, 0, store.ErrNotFound
	}
	return v, 1, nil
}

func (j *memJournal) Put(_ context.Context, k string, v []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.m[k] = v
	return nil
}

// memPub stores messages by id, like a stream with dedup, and counts the
// records of those it stores.
type memPub struct {
	ids  map[string]int // messages, by id
	recs map[string]int // records stored, by "<source>:<id>"
	fail bool
}

func newMemPub() *memPub { return &memPub{ids: map[string]int{}, recs: map[string]int{}} }

func (p *memPub) Publish(_ context.Context, msgs []store.Msg) (store.PublishResult, error) {
	var r store.PublishResult
	if p.fail {
		return r, fmt.Errorf("nats down")
	}
	for _, m := range msgs {
		p.ids[m.ID]++
		if p.ids[m.ID] > 1 {
			r.Duplicates += max(m.Items, 1)
			continue
		}
		r.Published += max(m.Items, 1)
		cloudevent.EachWire(m.Data, func(rec cloudevent.Record, err error) {
			if err == nil {
				p.recs[rec.Source+":"+rec.ID]++
			}
		})
	}
	return r, nil
}

func flowLine(i int) string {
	return fmt.Sprintf("2 111122223333 eni-1 10.0.0.%d 8.8.8.8 40000 443 6 10 %d 1700000000 1700000060 ACCEPT OK\n", i%250+1, 1000+i)
}

// Appended lines are read once each, across restarts (the journal), a
// line still being written waits for its newline, and a replaced file is
// read from its start.
func TestWatcherAppendRestartReplace(t *testing.T) {
	dir := t.TempDir()
	j := &memJournal{m: map[string][]byte{}}
	pub := newMemPub()
	newW := func() *Watcher {
		return &Watcher{Dirs: []Dir{{Path: dir, Source: cloudevent.VPCFlow}}, Pub: pub, Journal: j, Env: "t", Log: zap.NewNop()}
	}
	path := filepath.Join(dir, "flows.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(strings.Join(cloudevent.DefaultFlowFormat, " ") + "\n")
	for i := 0; i < 10; i++ {
		f.WriteString(flowLine(i))
	}
	f.WriteString("2 111122223333 eni-1 10.0.0.1 8.8.8.8 4") // half a line
	w := newW()
	ctx := context.Background()
	w.Poll(ctx)
	if len(pub.recs) != 10 {
		t.Fatalf("%d records after the first poll, want 10", len(pub.recs))
	}
	f.WriteString("0001 443 6 10 5 1700000000 1700000060 ACCEPT OK\n")
	for i := 10; i < 20; i++ {
		f.WriteString(flowLine(i))
	}
	f.WriteString("not a flow line\n")
	w = newW() // a restart: only the journal remains
	w.Poll(ctx)
	if len(pub.recs) != 21 || w.Stats.Malformed.Load() != 1 || w.Stats.Duplicates.Load() != 0 {
		t.Fatalf("%d records, %d malformed, %d duplicates after the restart", len(pub.recs), w.Stats.Malformed.Load(), w.Stats.Duplicates.Load())
	}
	w.Poll(ctx)
	for id, n := range pub.recs {
		if n != 1 {
			t.Errorf("%s published %d times", id, n)
		}
	}
	// A publish failure leaves the offset: the lines come at the next poll.
	f.WriteString(flowLine(21))
	pub.fail = true
	w.Poll(ctx)
	pub.fail = false
	w.Poll(ctx)
	if len(pub.recs) != 22 || w.Stats.Errors.Load() != 1 {
		t.Errorf("%d records, %d errors after a failed publish", len(pub.recs), w.Stats.Errors.Load())
	}
	f.Close()
	// Replaced (rotated) by a new file with the same name.
	os.Remove(path)
	os.WriteFile(path, []byte(flowLine(100)), 0o644)
	w.Poll(ctx)
	if len(pub.recs) != 23 {
		t.Errorf("%d records after the file was replaced, want 23", len(pub.recs))
	}
}

// A CloudTrail file is one JSON document: it is published once it stopped
// growing, and once only.
func TestWatcherWholeDocuments(t *testing.T) {
	dir := t.TempDir()
	j := &memJournal{m: map[string][]byte{}}
	pub := newMemPub()
	w := &Watcher{Dirs: []Dir{{Path: dir, Source: cloudevent.CloudTrail}}, Pub: pub, Journal: j, Env: "t", Log: zap.NewNop()}
	rec := func(id string) map[string]any {
		return map[string]any{"eventTime": "2026-01-01T00:00:00Z", "eventName": "ListUsers", "eventSource": "iam.amazonaws.com", "eventID": id}
	}
	b, _ := json.Marshal(map[string]any{"Records": []any{rec("a"), rec("b")}})
	os.WriteFile(filepath.Join(dir, "111122223333_CloudTrail_x.json"), b, 0o644)
	ctx := context.Background()
	w.Poll(ctx)
	if len(pub.recs) != 0 {
		t.Fatal("published before the file was seen stable")
	}
	w.Poll(ctx)
	w.Poll(ctx)
	if len(pub.recs) != 2 || pub.recs["cloudtrail:a"] != 1 {
		t.Errorf("records %v", pub.recs)
	}
}
