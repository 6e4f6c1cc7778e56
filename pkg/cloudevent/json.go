package cloudevent

import (
	"fmt"

	json "github.com/goccy/go-json"
)

// The decoder (goccy/go-json, for speed) can panic on some malformed
// input (found by FuzzUnmarshalWire: `{"\77\`): every decode of untrusted
// bytes goes through these, which turn a panic into an error.

func unmarshal(b []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed JSON (%v)", p)
		}
	}()
	return json.Unmarshal(b, v)
}

func decodeNext(dec *json.Decoder, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed JSON (%v)", p)
		}
	}()
	return dec.Decode(v)
}
