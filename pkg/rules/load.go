package rules

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// builtin holds the vendor rules, compiled into the binary.
//
//go:embed builtin/*.yaml
var builtin embed.FS

// Builtin returns the vendor rule files, by name, in load order.
func Builtin() (names []string, content map[string][]byte) { return readEmbedded(builtin, "builtin") }

// readEmbedded returns an embedded directory's files, by name, sorted.
func readEmbedded(fsys embed.FS, dir string) (names []string, content map[string][]byte) {
	content = map[string][]byte{}
	ents, _ := fs.ReadDir(fsys, dir)
	for _, e := range ents {
		name := dir + "/" + e.Name()
		b, _ := fs.ReadFile(fsys, name)
		names = append(names, name)
		content[name] = b
	}
	sort.Strings(names)
	return names, content
}

// DefaultVendorDir is where packages install the vendor rules.
const DefaultVendorDir = "/usr/lib/vigil/rules.d"

// DefaultLocalDir is where operators put their own rules; it may be
// missing. Any other path that is named and missing is an error.
const DefaultLocalDir = "/etc/vigil/rules.d"

// Sources says where rules come from.
type Sources struct {
	// Builtin loads the vendor rules first: from VendorDir when it holds
	// rule files, else the copy compiled into the binary.
	Builtin bool
	// VendorDir is where packaged vendor rules live.
	VendorDir string
	// Paths are rule files or directories (their *.yaml and *.yml files in
	// lexical order), loaded in order after the builtin rules.
	Paths []string
	// Inline are rule documents held in memory, loaded after the builtin
	// rules and before Paths (so local files still override them).
	Inline []Inline
}

// Inline is a rule document held in memory; Name stands for its file in
// error positions.
type Inline struct {
	Name    string
	Content []byte
}

// Load parses every source into one set. A named path that does not exist
// is an error naming it (a typo must not leave the agent without its
// rules); only DefaultLocalDir may be missing. Every problem is returned
// with its file:line.
func Load(src Sources) (*Set, error) {
	set := NewSet()
	var errs Errors
	add := func(err error) {
		var es Errors
		if errors.As(err, &es) {
			errs = append(errs, es...)
		} else if err != nil {
			errs = append(errs, &Error{Msg: err.Error()})
		}
	}
	readFiles := func(files []string) {
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				add(fmt.Errorf("read rules: %w", err))
				continue
			}
			add(set.Parse(f, b))
		}
	}
	// Vendor rules, then inline documents (a pushed bundle), then local
	// paths: each may override what came before.
	if src.Builtin {
		files, _ := ruleFiles(src.VendorDir, true)
		if len(files) > 0 {
			readFiles(files)
		} else {
			names, content := Builtin()
			for _, n := range names {
				add(set.Parse(n, content[n]))
			}
		}
	}
	for _, in := range src.Inline {
		add(set.Parse(in.Name, in.Content))
	}
	for _, p := range src.Paths {
		files, err := ruleFiles(p, p == DefaultLocalDir || p == src.VendorDir)
		if err != nil {
			add(err)
			continue
		}
		readFiles(files)
	}
	if len(errs) > 0 {
		return set, errs
	}
	return set, nil
}

func ruleFiles(p string, mayBeMissing bool) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if mayBeMissing {
				return nil, nil // no local rules.d is normal
			}
			return nil, fmt.Errorf("rules path %s does not exist", p)
		}
		return nil, fmt.Errorf("rules path: %w", err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		out = append(out, filepath.Join(p, e.Name()))
	}
	sort.Strings(out)
	return out, nil
}

//go:embed fixtures/*.yaml
var builtinFixtures embed.FS

// BuiltinFixtures returns the fixture files of the vendor rules, by name.
func BuiltinFixtures() (names []string, content map[string][]byte) {
	return readEmbedded(builtinFixtures, "fixtures")
}
