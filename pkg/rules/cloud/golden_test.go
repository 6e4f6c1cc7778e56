package cloud

import (
	"os"
	"testing"

	"github.com/vigil-sec/vigil/internal/testenv"
	"github.com/vigil-sec/vigil/pkg/alert"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
)

func golden(t *testing.T, name string, v any) { t.Helper(); testenv.GoldenJSON(t, name, v) }

// The detections of each cloud source and the normalized records are
// pinned (vigil.detection/1, vigil.cloud/1): -update rewrites them.
func TestGoldenCloudSchemas(t *testing.T) {
	rs := builtinRules(t)
	one := func(recs []cloudevent.Record) (cloudevent.Record, alert.Detection) {
		d := NewDetector(rs)
		for i := range recs {
			if dets := d.Detect(&recs[i]); len(dets) > 0 {
				return recs[i], dets[0]
			}
		}
		t.Fatal("no detection")
		return cloudevent.Record{}, alert.Detection{}
	}
	b, _ := os.ReadFile("../../cloudevent/testdata/cloudtrail/aws.persistence.iam-backdoor-role.json")
	ct, _ := cloudevent.ParseCloudTrail("f", b)
	rec, det := one(ct)
	golden(t, "record-cloudtrail", rec)
	golden(t, "detection-cloudtrail", det)
	b, _ = os.ReadFile("../../cloudevent/testdata/k8saudit/falco-trace-files/create_nginx_pod_privileged.json")
	ka, _ := cloudevent.ParseK8sAudit("f", b, "prod")
	rec, det = one(ka)
	golden(t, "record-k8saudit", rec)
	golden(t, "detection-k8saudit", det)
	fl, _ := cloudevent.ParseFlow("f", []byte("2 111122223333 eni-0a1 10.0.1.5 45.9.148.99 40112 3333 6 40 9000 1700000000 1700000060 ACCEPT OK\n"), nil)
	rec, det = one(fl)
	golden(t, "record-vpcflow", rec)
	golden(t, "detection-vpcflow", det)
}
