package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// BundleSchema versions the pushed bundle's JSON.
const BundleSchema = "vigil.rules-bundle/1"

// MaxBundleBytes bounds a bundle (the KV value that carries it).
const MaxBundleBytes = 4 << 20

// Bundle is a set of rule files pushed centrally (vigil rules push) for
// one environment: agents load it after the vendor rules and before their
// local rules.d (host overrides win); the backend takes its cloud rules.
type Bundle struct {
	Schema string `json:"schema"`
	// Version is a digest of the files: the same files give the same one.
	Version string       `json:"version"`
	Env     string       `json:"env"`
	Pushed  time.Time    `json:"pushed"`
	By      string       `json:"by,omitempty"`
	Files   []BundleFile `json:"files"`
}

// BundleFile is one rule file of a bundle, by its base name.
type BundleFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// NewBundle builds a bundle of files (sorted by name; names must be unique
// base names ending in .yaml or .yml).
func NewBundle(env string, files []BundleFile) (*Bundle, error) {
	b := &Bundle{Schema: BundleSchema, Env: env, Files: append([]BundleFile(nil), files...)}
	sort.Slice(b.Files, func(i, j int) bool { return b.Files[i].Name < b.Files[j].Name })
	b.Version = b.digest()
	return b, b.check()
}

func (b *Bundle) digest() string {
	h := sha256.New()
	for _, f := range b.Files {
		fmt.Fprintf(h, "%s\x00%d\x00%s", f.Name, len(f.Content), f.Content)
	}
	return "b-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// check validates the envelope (not the rules).
func (b *Bundle) check() error {
	if b.Schema != BundleSchema {
		return fmt.Errorf("bundle schema %q, want %q", b.Schema, BundleSchema)
	}
	if len(b.Files) == 0 {
		return errors.New("bundle has no rule files")
	}
	seen := map[string]bool{}
	for i, f := range b.Files {
		if f.Name == "" || path.Base(f.Name) != f.Name || strings.HasPrefix(f.Name, ".") ||
			!(strings.HasSuffix(f.Name, ".yaml") || strings.HasSuffix(f.Name, ".yml")) {
			return fmt.Errorf("files.%d.name %q: a base name ending in .yaml or .yml", i, f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("files.%d.name %q: given twice", i, f.Name)
		}
		seen[f.Name] = true
	}
	if b.Version != b.digest() {
		return fmt.Errorf("bundle version %q does not match its files (%s)", b.Version, b.digest())
	}
	return nil
}

// ParseBundle decodes and checks a bundle's envelope.
func ParseBundle(data []byte) (*Bundle, error) {
	if len(data) > MaxBundleBytes {
		return nil, fmt.Errorf("bundle of %d bytes exceeds %d", len(data), MaxBundleBytes)
	}
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	return &b, nil
}

// Inline turns the bundle's files into rule documents; their names, as
// errors cite them, are "bundle:<version>/<file>".
func (b *Bundle) Inline() []Inline {
	out := make([]Inline, 0, len(b.Files))
	for _, f := range b.Files {
		out = append(out, Inline{Name: b.Name(f.Name), Content: []byte(f.Content)})
	}
	return out
}

// Name is how a bundle file is cited.
func (b *Bundle) Name(file string) string { return "bundle:" + b.Version + "/" + file }

// Check parses the bundle's files after the vendor rules (when builtin) and
// checks every rule with this binary's schemas (host and cloud): what
// `vigil rules push`, the backend and the agents each do before using it.
func (b *Bundle) Check(builtin bool, vendorDir string) error {
	set, err := Load(Sources{Builtin: builtin, VendorDir: vendorDir, Inline: b.Inline()})
	if err != nil {
		return err
	}
	unchecked, err := CheckAll(set)
	if err != nil {
		return err
	}
	for src, n := range unchecked {
		return fmt.Errorf("%d %s rules cannot be checked: this build has no %s schema", n, src, src)
	}
	return nil
}
