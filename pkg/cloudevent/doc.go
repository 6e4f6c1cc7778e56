// Package cloudevent parses the cloud logs the backend ingests into one
// normalized Record per log record, keeping the original: AWS CloudTrail
// (the {"Records":[...]} envelope, bare arrays and JSON lines), VPC Flow
// Logs (versions 2 to 7 and custom field orders, driven by the header line
// or a declared format) and Kubernetes audit events (audit.k8s.io/v1, JSON
// lines or an EventList). Parsers are pure functions of bytes, lenient
// with the oddities of real and anonymized logs, and fuzzed: a record that
// cannot be used is reported with its line or index and never stops the
// rest.
package cloudevent
