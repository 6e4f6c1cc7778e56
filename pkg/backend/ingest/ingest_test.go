package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/pkg/cloudevent"
)

// trail is n CloudTrail records, alternating between two accounts, with
// pad bytes in each (for the size bound).
func trail(t *testing.T, n, pad int) []cloudevent.Record {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"Records":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"eventVersion":"1.08","eventTime":"2026-01-01T00:00:%02dZ","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","recipientAccountId":"%d","eventID":"e-%d","userAgent":"%s"}`,
			i%60, 111122223333+i%2, i, strings.Repeat("x", pad))
	}
	b.WriteString(`]}`)
	recs, errs, err := Parse(cloudevent.CloudTrail, "t.json", []byte(b.String()), Options{Env: "t"})
	if err != nil || len(errs) > 0 || len(recs) != n {
		t.Fatalf("parse: %v %v (%d records)", err, errs, len(recs))
	}
	return recs
}

// Records go in batches of one subject, in order, bounded in records and
// bytes; the batches of the same records are the same messages (ids), so
// sending them again stores nothing.
func TestMessagesBatchRecordsOfOneSubject(t *testing.T) {
	recs := trail(t, 450, 0)
	msgs, err := Messages("t", recs)
	if err != nil {
		t.Fatal(err)
	}
	// 225 records per account: 100, 100, 25 each.
	if len(msgs) != 6 {
		t.Fatalf("%d messages, want 6", len(msgs))
	}
	bySubject := map[string][]string{}
	total := 0
	for _, m := range msgs {
		n := cloudevent.EachWire(m.Data, func(r cloudevent.Record, err error) {
			if err != nil {
				t.Fatalf("%s: %v", m.ID, err)
			}
			if got := "vigil.t.cloud.cloudtrail." + r.Key; got != m.Subject {
				t.Errorf("record of %s in a batch of %s", got, m.Subject)
			}
			bySubject[m.Subject] = append(bySubject[m.Subject], r.ID)
		})
		if n != m.Items || n > BatchRecords {
			t.Errorf("%s: %d records, Items %d", m.ID, n, m.Items)
		}
		total += n
	}
	if total != len(recs) || len(bySubject) != 2 {
		t.Fatalf("%d records in %d subjects", total, len(bySubject))
	}
	for s, ids := range bySubject {
		for i := 1; i < len(ids); i++ {
			var a, b int
			fmt.Sscanf(ids[i-1], "e-%d", &a)
			fmt.Sscanf(ids[i], "e-%d", &b)
			if b <= a {
				t.Fatalf("%s: %s after %s: out of order", s, ids[i], ids[i-1])
			}
		}
	}
	again, _ := Messages("t", trail(t, 450, 0))
	pub := newMemPub()
	first, _ := pub.Publish(context.Background(), msgs)
	second, _ := pub.Publish(context.Background(), again)
	if first.Published != 450 || second.Published != 0 || second.Duplicates != 450 {
		t.Errorf("first %+v, again %+v", first, second)
	}
	for id, n := range pub.recs {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}

	// A record alone keeps its own id.
	one, _ := Messages("t", recs[:1])
	if len(one) != 1 || one[0].ID != "cloudtrail:e-0" || one[0].Items != 1 || one[0].Data[0] != '{' {
		t.Errorf("one record: %+v", one)
	}
	// Large records: a batch stays under BatchBytes.
	big := trail(t, 40, 20<<10)
	msgs, _ = Messages("t", big)
	for _, m := range msgs {
		if len(m.Data) > BatchBytes+2 {
			t.Errorf("%s: %d bytes", m.ID, len(m.Data))
		}
	}
	if len(msgs) < 8 {
		t.Errorf("40 records of 20 KiB in %d messages", len(msgs))
	}
}
