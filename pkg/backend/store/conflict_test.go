package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// A compare-and-set that lost is a conflict however the server says it:
// R1 streams answer 10071, replicated ones 10164 (nats.go: "key revision
// mismatch"), which the triage's retry loop must see as ErrConflict too.
func TestIsConflict(t *testing.T) {
	for _, err := range []error{
		jetstream.ErrKeyExists,
		fmt.Errorf("nats: API error: code=400 err_code=10164 description=wrong last sequence: %w", jetstream.ErrKeyRevisionMismatch),
		&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence},
		fmt.Errorf("update: %w", &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequenceConstant}),
	} {
		if !isConflict(err) {
			t.Errorf("%v: not a conflict", err)
		}
	}
	for _, err := range []error{nil, errors.New("timeout"), &jetstream.APIError{Code: 503, ErrorCode: 10008}} {
		if isConflict(err) {
			t.Errorf("%v: a conflict", err)
		}
	}
}
