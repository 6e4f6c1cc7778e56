// Package cloud is the rule language's schema for the cloud logs the
// backend ingests (sources cloudtrail, vpcflow and k8saudit): the fields
// conditions see (ct.*, flow.*, ka.*), the policy functions, compiling, and
// the Detector that evaluates single-record and threshold rules over
// normalized records (pkg/cloudevent) on event time and makes detections
// (pkg/alert). It registers itself with pkg/rules, so `vigil rules lint`
// and `vigil rules test` check cloud rules beside host rules.
package cloud
