package correlate

import (
	"testing"
	"time"

	"github.com/vigil-sec/vigil/pkg/alert"
)

// A sensor is silent after 3 intervals without a heartbeat (once per
// silence), and back with the gap named when its heartbeats return; an
// agent reporting growing losses is degraded.
func TestSensorSilentAndBack(t *testing.T) {
	s := NewSensors()
	hb := heartbeat(hostInfo("h-1", "i-1", "10.0.0.1", ""), t0)
	hb.Interval = 10
	hb.Status.Version = "0.1.70"
	hb.Status.Totals.QueueDrops = 3
	if d := s.Heartbeat(hb, t0); d != nil {
		t.Fatalf("first heartbeat: %+v", d)
	}
	if ds := s.Check(t0.Add(30 * time.Second)); len(ds) != 0 {
		t.Fatalf("silent at 3 intervals exactly: %v", ds)
	}
	ds := s.Check(t0.Add(31 * time.Second))
	if len(ds) != 1 || ds[0].Rule != RuleSensorSilent || ds[0].Severity != alert.Low || !ds[0].Time.Equal(t0) ||
		!has(ds[0].Resources, alert.KindHost, "h-1") || !has(ds[0].Resources, alert.KindInstance, "i-1") {
		t.Fatalf("silent: %+v", ds)
	}
	if again := s.Check(t0.Add(time.Hour)); len(again) != 0 {
		t.Errorf("raised twice: %v", again)
	}
	l := s.List()
	if len(l) != 1 || l[0].Status != SensorSilent || l[0].Drops != 3 || l[0].Version != "0.1.70" || l[0].SilentSince == nil {
		t.Errorf("inventory %+v", l)
	}
	hb.Status.Health.Degraded = true
	back := s.Heartbeat(hb, t0.Add(2*time.Minute))
	if back == nil || back.Rule != RuleSensorBack || back.ID == ds[0].ID {
		t.Fatalf("back: %+v", back)
	}
	if l := s.List(); l[0].Status != SensorDegraded || l[0].SilentSince != nil {
		t.Errorf("after: %+v", l[0])
	}
	// A replayed older heartbeat changes nothing.
	if d := s.Heartbeat(hb, t0); d != nil || !s.List()[0].LastHeartbeat.Equal(t0.Add(2*time.Minute)) {
		t.Error("an older heartbeat went back in time")
	}
}

// A silent sensor joins the open threat on its host; alone it opens none.
func TestSilentSensorJoinsTheHostsThreat(t *testing.T) {
	e := New(Config{}, fixedNow)
	s := NewSensors()
	h := hostInfo("h-1", "i-1", "10.0.0.1", "")
	s.Heartbeat(heartbeat(h, t0), t0)
	silent := s.Check(t0.Add(2 * time.Minute))[0]
	if ch := e.Add(silent); ch != nil {
		t.Fatalf("a silent sensor alone opened %v", ch)
	}
	ch := e.Add(runtime("r1", "Reverse shell", alert.High, "execution", t0.Add(-time.Minute), h, 1))
	if len(ch) != 1 || len(ch[0].Timeline) != 2 || ch[0].Timeline[1].Rule != RuleSensorSilent {
		t.Fatalf("%+v", ch)
	}
}
