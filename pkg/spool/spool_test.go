package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func open(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seqs(t *testing.T, s *Spool) []string {
	t.Helper()
	rs, err := s.Next(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestAppendAckReplay(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 200})
	for i := 0; i < 20; i++ {
		if _, err := s.Append(3, fmt.Sprint("id", i), "vigil.prod.alert.h1", []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	for q := uint64(1); q <= 10; q++ {
		if err := s.Ack(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{SegmentBytes: 200})
	defer s.Close()
	got := seqs(t, s)
	if len(got) != 10 || got[0] != "id10" || got[9] != "id19" {
		t.Fatalf("replay %v", got)
	}
	rs, _ := s.Next(0, 1)
	if rs[0].Subject != "vigil.prod.alert.h1" || !bytes.Equal(rs[0].Data, []byte(`{"n":10}`)) || rs[0].Severity != 3 {
		t.Errorf("record %+v", rs[0])
	}
	// Fully acked leading segments are deleted.
	if st := s.Stats(); st.Segments > 8 {
		t.Errorf("%d segments kept", st.Segments)
	}
	// New records continue the sequence.
	q, _ := s.Append(1, "new", "x", nil)
	if q != 21 {
		t.Errorf("next seq %d", q)
	}
}

// Without Close (a crash), everything appended is still there.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	for i := 0; i < 5; i++ {
		s.Append(2, fmt.Sprint(i), "s", []byte("x"))
	}
	s.Ack(2)
	// no Close: the writes were handed to the kernel
	s2 := open(t, dir, Options{})
	defer s2.Close()
	if got := seqs(t, s2); fmt.Sprint(got) != "[0 2 3 4]" {
		t.Fatalf("after crash %v", got)
	}
}

// A torn last record (power loss mid-write) is cut off; the rest replays.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	for i := 0; i < 3; i++ {
		s.Append(2, fmt.Sprint(i), "s", bytes.Repeat([]byte("y"), 100))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	st, _ := os.Stat(segs[0])
	os.Truncate(segs[0], st.Size()-30)
	s = open(t, dir, Options{})
	defer s.Close()
	if got := seqs(t, s); fmt.Sprint(got) != "[0 1]" || s.Stats().Corruptions != 1 {
		t.Fatalf("%v corruptions %d", got, s.Stats().Corruptions)
	}
	if _, err := s.Append(2, "3", "s", nil); err != nil {
		t.Fatal(err)
	}
	if got := seqs(t, s); fmt.Sprint(got) != "[0 1 3]" {
		t.Fatalf("after append %v", got)
	}
}

// Over budget, the lowest severity goes first, drops are counted, and high
// and critical survive while anything lower is left.
func TestFullDropsLowestSeverityFirst(t *testing.T) {
	dir := t.TempDir()
	rec := bytes.Repeat([]byte("z"), 900)
	s := open(t, dir, Options{MaxBytes: 20 << 10, SegmentBytes: 4 << 10})
	defer s.Close()
	for i := 0; i < 60; i++ {
		sev := uint8(i % NumSeverities)
		s.Append(sev, fmt.Sprintf("%d-%d", sev, i), "s", rec)
	}
	st := s.Stats()
	if st.LiveBytes > 20<<10 {
		t.Errorf("live %d over budget", st.LiveBytes)
	}
	if st.Dropped[0] == 0 || st.Dropped[4] != 0 || st.Dropped[5] != 0 {
		t.Errorf("drops %v: want telemetry dropped, no high or critical", st.Dropped)
	}
	for _, id := range seqs(t, s) {
		if id[0] == '0' && st.Dropped[1] > 0 {
			t.Errorf("a telemetry record %s kept while info was dropped", id)
		}
	}
	if st.DiskBytes > (20<<10)+(8<<10) {
		t.Errorf("disk %d not kept near the budget", st.DiskBytes)
	}
}

// A long outage of only critical alerts: they are dropped too (the spool is
// bounded), oldest first, and every drop is counted.
func TestCriticalDropsAreCounted(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 8 << 10, SegmentBytes: 2 << 10})
	defer s.Close()
	for i := 0; i < 100; i++ {
		s.Append(5, fmt.Sprint(i), "s", bytes.Repeat([]byte("c"), 500))
	}
	st := s.Stats()
	kept := seqs(t, s)
	if uint64(len(kept))+st.Dropped[5] != 100 || st.Dropped[5] == 0 {
		t.Fatalf("kept %d dropped %d", len(kept), st.Dropped[5])
	}
	if kept[len(kept)-1] != "99" {
		t.Errorf("newest not kept: %v", kept)
	}
}

func FuzzSegment(f *testing.F) {
	dir := f.TempDir()
	s, _ := Open(dir, Options{})
	s.Append(3, "a", "s", []byte("data"))
	s.Ack(1)
	s.Append(1, "b", "s", nil)
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	b, _ := os.ReadFile(segs[0])
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, segName(1)), b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(d, Options{})
		if err != nil {
			return
		}
		_, _ = s.Next(0, 100)
		_, _ = s.Append(2, "x", "y", []byte("z"))
		s.Close()
	})
}
