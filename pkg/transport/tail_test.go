package transport

import (
	"context"
	"testing"
	"time"
)

func TestTailFiltersAndReadsFromTheStart(t *testing.T) {
	ns := embedded(t)
	a := startAgent(t, ns.ClientURL(), t.TempDir())
	for i := 0; i < 5; i++ {
		a.emit(t, i)
	}
	if _, err := a.sp.Append(0, "hb-1", Subject("test", "hb", "h1"), []byte(`{"schema":"vigil.heartbeat/1"}`)); err != nil {
		t.Fatal(err)
	}
	a.pub.Notify()
	waitDrained(t, a, 30*time.Second)
	a.stop()

	read := func(filter string, limit int) []Message {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var got []Message
		err := Tail(ctx, ns.ClientURL(), nil, "", filter, false, false, func(m Message) bool {
			got = append(got, m)
			return len(got) < limit
		})
		if err != nil && err != context.DeadlineExceeded {
			t.Fatalf("tail %s: %v", filter, err)
		}
		return got
	}
	alerts := read("vigil.*.alert.*", 100)
	if len(alerts) != 5 {
		t.Fatalf("alerts: got %d, want 5", len(alerts))
	}
	if alerts[0].Subject != "vigil.test.alert.h1" || string(alerts[0].Data) != `{"id":"alert-000000"}` || alerts[0].Sequence != 1 {
		t.Errorf("first alert: %+v %s", alerts[0], alerts[0].Data)
	}
	if hb := read("vigil.*.hb.h1", 100); len(hb) != 1 {
		t.Errorf("heartbeats: got %d, want 1", len(hb))
	}
	if two := read(">", 2); len(two) != 2 {
		t.Errorf("limit: got %d, want 2", len(two))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := Tail(ctx, ns.ClientURL(), nil, "NOPE", "", false, false, func(Message) bool { return true }); err == nil {
		t.Error("a missing stream must be an error")
	}
	// On a server without the stream, --create-stream makes it, and then it exists.
	ns2 := embedded(t)
	tail2 := func(create bool) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := Tail(ctx, ns2.ClientURL(), nil, "", "", true, create, func(Message) bool { return false })
		if err == context.DeadlineExceeded {
			return nil
		}
		return err
	}
	if err := tail2(false); err == nil {
		t.Fatal("the stream exists before it was created")
	}
	if err := tail2(true); err != nil {
		t.Errorf("create: %v", err)
	}
	if err := tail2(false); err != nil {
		t.Errorf("after create: %v", err)
	}
}
