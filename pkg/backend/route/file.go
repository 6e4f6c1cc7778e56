package route

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/vigil-sec/vigil/pkg/config"
)

// Defaults of the file output's rotation.
const (
	DefaultFileMaxBytes = 100 << 20
	DefaultFileMaxFiles = 5
)

// fileOut appends one JSON line per notification, rotated by size
// (lumberjack: the old files are renamed with their time, MaxFiles kept).
type fileOut struct {
	format string
	mu     sync.Mutex
	w      *lumberjack.Logger
}

func newFile(c config.Output) (*fileOut, error) {
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o750); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	// Fail now on a path that cannot be written, not at the first threat.
	f, err := os.OpenFile(c.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	f.Close()
	maxBytes, maxFiles := c.MaxBytes, c.MaxFiles
	if maxBytes == 0 {
		maxBytes = DefaultFileMaxBytes
	}
	if maxFiles == 0 {
		maxFiles = DefaultFileMaxFiles
	}
	// lumberjack counts megabytes.
	return &fileOut{format: c.Format, w: &lumberjack.Logger{Filename: c.Path, MaxSize: int(max(1, maxBytes>>20)), MaxBackups: maxFiles}}, nil
}

func (f *fileOut) Send(_ context.Context, d *Delivery) (Receipt, error) {
	b, err := Body(f.format, d.N)
	if err != nil {
		return Receipt{}, &PermanentError{Err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.w.Write(append(b, '\n')); err != nil {
		return Receipt{}, err
	}
	return Receipt{Answer: fmt.Sprintf("%d bytes appended to %s", len(b)+1, f.w.Filename)}, nil
}

func (f *fileOut) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.w.Close()
}
