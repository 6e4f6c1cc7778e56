package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
)

// Journal keeps each file's offset (store.KV): a restart resumes where the
// last published record ended, neither skipping nor repeating.
type Journal interface {
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	Put(ctx context.Context, key string, v []byte) error
}

// Dir is a watched drop directory.
type Dir struct {
	Path    string
	Source  string
	Format  []string
	Cluster string
}

// WatchStats are a watcher's counters.
type WatchStats struct {
	Files      atomic.Uint64 // file reads that published something
	Records    atomic.Uint64 // records read
	Published  atomic.Uint64
	Duplicates atomic.Uint64
	Malformed  atomic.Uint64
	Errors     atomic.Uint64 // files that could not be read or published (retried next poll)
}

// Watcher polls drop directories for new and appended files.
type Watcher struct {
	Dirs     []Dir
	Pub      Publisher
	Journal  Journal
	Env      string
	Interval time.Duration
	Log      *zap.Logger
	Stats    WatchStats
	last     map[string]int64 // size at the previous poll (whole-document files publish once stable)
}

// fileState is a file's journal entry.
type fileState struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"` // bytes consumed
	Line   int    `json:"line"`   // lines consumed (for error positions)
	Header string `json:"header,omitempty"`
}

// Run polls until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	if w.last == nil {
		w.last = map[string]int64{}
	}
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		w.Poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll looks at every file once.
func (w *Watcher) Poll(ctx context.Context) {
	if w.last == nil {
		w.last = map[string]int64{}
	}
	for _, d := range w.Dirs {
		_ = filepath.WalkDir(d.Path, func(path string, e fs.DirEntry, err error) error {
			if err != nil || ctx.Err() != nil {
				return nil
			}
			if strings.HasPrefix(e.Name(), ".") && path != d.Path {
				if e.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if e.Type().IsRegular() && !isLicense(e.Name()) {
				if err := w.file(ctx, d, path); err != nil {
					w.Stats.Errors.Add(1)
					w.Log.Warn("drop file not ingested: retried at the next poll", zap.String("file", path), zap.Error(err))
				}
			}
			return nil
		})
	}
}

// wholeDocument tells whether a file is read as one document (a
// CloudTrail JSON file, anything gzipped) rather than line by line.
func wholeDocument(d Dir, path string) bool {
	return d.Source == cloudevent.CloudTrail || strings.HasSuffix(path, ".gz")
}

func (w *Watcher) file(ctx context.Context, d Dir, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return nil // gone since the walk
	}
	var ino uint64
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = sys.Ino
	}
	h := sha256.Sum256([]byte(path))
	key := hex.EncodeToString(h[:16])
	var fs fileState
	if b, _, err := w.Journal.Get(ctx, key); err == nil {
		_ = json.Unmarshal(b, &fs)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if fs.Inode != ino || st.Size() < fs.Offset { // replaced or truncated: from the start
		fs = fileState{Inode: ino}
	}
	if st.Size() == fs.Offset {
		return nil
	}
	whole := wholeDocument(d, path)
	if whole {
		// Publish once the file stopped growing (a writer may be mid-file).
		prev, seen := w.last[key]
		w.last[key] = st.Size()
		if !seen || prev != st.Size() {
			return nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var data []byte
	if whole {
		data, err = io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
		if err == nil {
			data, err = Gunzip(data)
		}
		if err != nil {
			return err
		}
	} else {
		if _, err := f.Seek(fs.Offset, io.SeekStart); err != nil {
			return err
		}
		chunk, err := io.ReadAll(io.LimitReader(f, 64<<20))
		if err != nil {
			return err
		}
		end := bytes.LastIndexByte(chunk, '\n')
		if end < 0 {
			return nil // no complete line yet
		}
		data = chunk[:end+1]
	}
	o := Options{Env: w.Env, Format: d.Format, Cluster: d.Cluster}
	input := data
	if !whole && d.Source == cloudevent.VPCFlow && fs.Header != "" && fs.Offset > 0 {
		input = append([]byte(fs.Header+"\n"), data...)
	}
	var bad []*cloudevent.RecordError
	sum, err := Data(ctx, w.Pub, d.Source, path, input, o, func(e error) {
		var re *cloudevent.RecordError
		if errors.As(e, &re) {
			bad = append(bad, re)
		}
	})
	if err != nil {
		return err
	}
	for _, re := range bad {
		if !whole {
			re.Line += fs.Line
			if fs.Header != "" && fs.Offset > 0 {
				re.Line--
			}
		}
		w.Log.Warn("malformed record skipped", zap.String("record", re.Error()))
	}
	w.Stats.Files.Add(1)
	w.Stats.Records.Add(uint64(sum.Read))
	w.Stats.Published.Add(uint64(sum.Published))
	w.Stats.Duplicates.Add(uint64(sum.Duplicates))
	w.Stats.Malformed.Add(uint64(sum.Malformed))
	if whole {
		fs.Offset = st.Size()
	} else {
		if fs.Offset == 0 && d.Source == cloudevent.VPCFlow {
			first, _, _ := strings.Cut(string(data), "\n")
			if f, err := cloudevent.ParseFlowFormat(first); err == nil && len(f) > 2 && !strings.ContainsAny(first[:1], "0123456789") {
				fs.Header = strings.TrimSpace(first)
			}
		}
		fs.Offset += int64(len(data))
		fs.Line += bytes.Count(data, []byte{'\n'})
	}
	b, _ := json.Marshal(fs)
	return w.Journal.Put(ctx, key, b)
}
