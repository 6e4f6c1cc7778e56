package pipeline

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"

	"github.com/vigil-sec/vigil/pkg/event"
)

// JSONLines writes one JSON object per event; safe for concurrent use (the
// agent's own alerts come from another goroutine).
type JSONLines struct {
	mu  sync.Mutex
	w   *bufio.Writer
	enc *json.Encoder
}

// NewJSONLines writes to w, buffered; Flush empties the buffer.
func NewJSONLines(w io.Writer) *JSONLines {
	bw := bufio.NewWriterSize(w, 64*1024)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &JSONLines{w: bw, enc: enc}
}

// Write encodes one event.
func (j *JSONLines) Write(e *event.Event) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.enc.Encode(e)
}

// WriteAlert encodes one alert (or any value) on the same stream, so events
// and alerts interleave whole lines.
func (j *JSONLines) WriteAlert(a any) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.enc.Encode(a)
}

// Flush writes out buffered lines.
func (j *JSONLines) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.w.Flush()
}
