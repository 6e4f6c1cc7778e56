// Package ingest turns cloud log files and pushed bodies into normalized
// records (pkg/cloudevent) and publishes them to the cloud stream with
// their source ids as message ids, so the same record is stored once
// however often it is sent. Sources: files and directories (`vigil
// ingest`), drop directories the backend watches (with an offset journal),
// and HTTP push (POST /api/v1/ingest/<source>).
package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigil-sec/vigil/pkg/backend/store"
	"github.com/vigil-sec/vigil/pkg/cloudevent"
	"github.com/vigil-sec/vigil/pkg/wire"
)

// Options shape parsing and publishing.
type Options struct {
	Env     string   // subject environment token
	Format  []string // vpcflow: field order when a file has no header
	Cluster string   // k8saudit: the cluster's name
}

// MaxFileBytes bounds one input (decompressed).
const MaxFileBytes = 1 << 30

// Parse parses data of source.
func Parse(source, file string, data []byte, o Options) ([]cloudevent.Record, []*cloudevent.RecordError, error) {
	var recs []cloudevent.Record
	var errs []*cloudevent.RecordError
	switch source {
	case cloudevent.CloudTrail:
		recs, errs = cloudevent.ParseCloudTrail(file, data)
	case cloudevent.VPCFlow:
		recs, errs = cloudevent.ParseFlow(file, data, o.Format)
	case cloudevent.K8sAudit:
		cluster := o.Cluster
		if cluster == "" {
			cluster = "default"
		}
		recs, errs = cloudevent.ParseK8sAudit(file, data, cluster)
	default:
		return nil, nil, fmt.Errorf("unknown source %q: cloudtrail, vpcflow or k8saudit", source)
	}
	for i := range recs {
		recs[i].Env = o.Env
	}
	return recs, errs, nil
}

// A cloud-stream message carries a batch of records of one subject: at
// most BatchRecords of them, or BatchBytes (a larger record goes alone).
// One message per record cost JetStream's per-message work (store, dedup,
// delivery, ack) for each record: 28,000-75,000 records/s on two cores
// with nothing else running, at or below the ingest goal before any
// parsing (docs/performance.md).
const (
	BatchRecords = 100
	BatchBytes   = 128 << 10
)

// Messages are the records as cloud stream messages: in batches of one
// subject, in the records' order. A batch's id is a digest of its
// records' ids (one record's is "<source>:<id>"), and the batches are
// cut the same way from the same records, so the same input sent again
// (a file ingested twice, an ingestion restarted) is stored once.
func Messages(env string, recs []cloudevent.Record) ([]store.Msg, error) {
	type batch struct {
		subject string
		recs    [][]byte
		ids     []string
		size    int
	}
	var out []store.Msg
	var open []*batch
	bySubject := map[string]*batch{}
	flush := func(b *batch) {
		m := store.Msg{Subject: b.subject, Items: len(b.recs), Data: cloudevent.AppendWireBatch(make([]byte, 0, b.size+len(b.recs)+1), b.recs)}
		if len(b.ids) == 1 {
			m.ID = b.ids[0]
		} else {
			h := sha256.New()
			for _, id := range b.ids {
				h.Write([]byte(id))
				h.Write([]byte{'\n'})
			}
			m.ID = "batch:" + hex.EncodeToString(h.Sum(nil)[:20])
		}
		out = append(out, m)
		b.recs, b.ids, b.size = b.recs[:0], b.ids[:0], 0
	}
	for i := range recs {
		r := &recs[i]
		data, err := r.MarshalWire()
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", r.ID, err)
		}
		subject := wire.SourceSubject(env, wire.KindCloud, r.Source, r.Key)
		b := bySubject[subject]
		if b == nil {
			b = &batch{subject: subject}
			bySubject[subject] = b
			open = append(open, b)
		}
		if len(b.recs) > 0 && (len(b.recs) >= BatchRecords || b.size+len(data) > BatchBytes) {
			flush(b)
		}
		b.recs = append(b.recs, data)
		b.ids = append(b.ids, r.Source+":"+r.ID)
		b.size += len(data)
	}
	for _, b := range open {
		if len(b.recs) > 0 {
			flush(b)
		}
	}
	return out, nil
}

// Publisher stores messages (store.Conn).
type Publisher interface {
	Publish(ctx context.Context, msgs []store.Msg) (store.PublishResult, error)
}

// Summary counts an ingestion.
type Summary struct {
	Files      int `json:"files"`
	Read       int `json:"read"`      // records read (malformed included)
	Published  int `json:"published"` // newly stored
	Duplicates int `json:"duplicates"`
	Malformed  int `json:"malformed"`
	Failed     int `json:"failed"` // parsed but not stored (publish failed)
}

func (s Summary) String() string {
	return fmt.Sprintf("%d records read from %d files: %d published, %d duplicates, %d malformed, %d failed",
		s.Read, s.Files, s.Published, s.Duplicates, s.Malformed, s.Failed)
}

// Add sums another summary into s.
func (s *Summary) Add(o Summary) {
	s.Files += o.Files
	s.Read += o.Read
	s.Published += o.Published
	s.Duplicates += o.Duplicates
	s.Malformed += o.Malformed
	s.Failed += o.Failed
}

// Data parses and publishes one input; malformed records are reported to
// bad and counted, never fatal.
func Data(ctx context.Context, p Publisher, source, name string, data []byte, o Options, bad func(error)) (Summary, error) {
	recs, errs, err := Parse(source, name, data, o)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Files: 1, Read: len(recs) + len(errs), Malformed: len(errs)}
	for _, e := range errs {
		bad(e)
	}
	msgs, err := Messages(o.Env, recs)
	if err != nil {
		sum.Failed = len(recs)
		return sum, err
	}
	res, err := p.Publish(ctx, msgs)
	sum.Published, sum.Duplicates = res.Published, res.Duplicates
	sum.Failed = len(recs) - res.Published - res.Duplicates
	return sum, err
}

// Inputs expands paths into files: directories recursively (in lexical
// order, hidden files skipped), and "-" for standard input.
func Inputs(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if p == "-" {
			out = append(out, p)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && path != p {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && !isLicense(d.Name()) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}

// isLicense skips the licence and readme files sample directories carry.
func isLicense(name string) bool {
	n := strings.ToUpper(name)
	return strings.HasPrefix(n, "LICENSE") || strings.HasPrefix(n, "README") || strings.HasPrefix(n, "NOTICE")
}

// ReadInput reads a file (gunzipped when it is gzip) or standard input.
func ReadInput(path string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileBytes)
	}
	return Gunzip(b)
}

// Gunzip decompresses gzip data (by its magic bytes); anything else is
// returned as it is.
func Gunzip(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if len(out) > MaxFileBytes {
		return nil, fmt.Errorf("decompressed larger than %d bytes", MaxFileBytes)
	}
	return out, nil
}
