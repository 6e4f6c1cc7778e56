package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// A filesystem that fills up (a quota standing in for a tiny tmpfs, as in
// the privileged agent test): an outage's info, low, then medium, high and
// critical records. The full disk sheds the lowest severity first, exactly
// as the budget does; every loss is counted; nothing of medium or above is
// lost while lower records remain; and once space returns appends succeed
// again by themselves.
func TestDiskFullShedsLowestFirst(t *testing.T) {
	dir := t.TempDir()
	o := Options{quota: 256 << 10}
	s := open(t, dir, o)
	rec := bytes.Repeat([]byte("a"), 900)
	sent := map[uint8]int{}
	var refused int
	add := func(sev uint8, n int) {
		for i := 0; i < n; i++ {
			sent[sev]++
			if _, err := s.Append(sev, fmt.Sprintf("%d-%d", sev, i), "s", rec); err != nil {
				if !errors.Is(err, ErrFull) {
					t.Fatalf("append: %v", err)
				}
				refused++
			}
		}
	}
	add(1, 300)
	add(2, 300)
	for _, sev := range []uint8{3, 4, 5} {
		add(sev, 50)
	}
	st := s.Stats()
	if st.DiskFullEvents == 0 {
		t.Fatalf("disk full not reported: %+v", st)
	}
	kept := map[uint8]int{}
	for _, id := range seqs(t, s) {
		kept[id[0]-'0']++
	}
	for sev := uint8(1); sev <= 5; sev++ {
		if uint64(kept[sev])+st.Dropped[sev] != uint64(sent[sev]) {
			t.Errorf("severity %d: sent %d, kept %d, dropped %d: a loss is not counted", sev, sent[sev], kept[sev], st.Dropped[sev])
		}
	}
	for sev := uint8(3); sev <= 5; sev++ {
		if kept[sev] != 50 {
			t.Errorf("severity %d: kept %d of 50 while lower ones remain (%v)", sev, kept[sev], kept)
		}
	}
	if kept[1] > 0 && st.Dropped[2] > 0 {
		t.Errorf("low dropped while info kept: %v, drops %v", kept, st.Dropped)
	}
	if kept[1]+kept[2] == 0 {
		t.Errorf("nothing lower left: the test no longer shows the order (%v)", kept)
	}
	if refused != 0 {
		t.Errorf("%d records refused while lower ones could be shed", refused)
	}
	// The drops survive a restart (compaction removed them from disk).
	s.Close()
	s = open(t, dir, o)
	if got := len(seqs(t, s)); got != kept[1]+kept[2]+150 {
		t.Errorf("after restart %d records, want %d", got, kept[1]+kept[2]+150)
	}
	// Delivery acks everything; space comes back; appends work again.
	rs, _ := s.Next(0, 1<<20)
	for _, r := range rs {
		if err := s.Ack(r.Seq); err != nil {
			t.Fatalf("ack on a full disk: %v", err)
		}
	}
	if _, err := s.Append(5, "after", "s", rec); err != nil {
		t.Fatalf("append after space returned: %v", err)
	}
	if st := s.Stats(); st.DiskFull || st.Records != 1 {
		t.Errorf("after recovery: %+v", st)
	}
	s.Close()
}

// When only higher severities fill the disk, a lower record never displaces
// them: it sheds older records of its own severity or is refused, and
// either way it is counted.
func TestDiskFullNeverShedsHigher(t *testing.T) {
	s := open(t, t.TempDir(), Options{quota: 128 << 10})
	defer s.Close()
	rec := bytes.Repeat([]byte("c"), 1000)
	for i := 0; !s.Stats().DiskFull; i++ {
		if _, err := s.Append(5, fmt.Sprint(i), "s", rec); err != nil || i > 1000 {
			t.Fatalf("critical %d: %v", i, err)
		}
	}
	before := s.Stats()
	refused := 0
	for i := 0; i < 20; i++ {
		if _, err := s.Append(1, fmt.Sprint("info", i), "s", rec); errors.Is(err, ErrFull) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	after := s.Stats()
	crit := 0
	for _, id := range seqs(t, s) {
		if !strings.HasPrefix(id, "info") {
			crit++
		}
	}
	if after.Dropped[5] != before.Dropped[5] || uint64(crit) != uint64(before.Records) {
		t.Errorf("critical records shed for info: before %+v after %+v", before, after)
	}
	if uint64(after.Records-crit)+after.Dropped[1] != 20 {
		t.Errorf("info: %d refused, %d kept, %d dropped", refused, after.Records-crit, after.Dropped[1])
	}
}

// A write error does not stick: after a failed append the next one works
// (the buffered writer used to keep the error until a restart).
func TestWriteErrorDoesNotStick(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{quota: 64 << 10})
	defer s.Close()
	big := bytes.Repeat([]byte("b"), 200<<10)
	if _, err := s.Append(3, "big", "s", big); err == nil {
		t.Fatal("a record larger than the filesystem was stored")
	}
	if _, err := s.Append(3, "small", "s", []byte("x")); err != nil {
		t.Fatalf("append after a failed one: %v", err)
	}
	if got := seqs(t, s); fmt.Sprint(got) != "[small]" {
		t.Errorf("records %v", got)
	}
	if st := s.Stats(); st.WriteErrors == 0 || st.Dropped[3] != 1 {
		t.Errorf("stats %+v", st)
	}
	s.Close()
	s2 := open(t, dir, Options{})
	defer s2.Close()
	if got := seqs(t, s2); fmt.Sprint(got) != "[small]" || s2.Stats().Corruptions != 0 {
		t.Errorf("after restart %v, corruptions %d", got, s2.Stats().Corruptions)
	}
}
