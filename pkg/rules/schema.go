package rules

import (
	"errors"
	"sort"
	"sync"
)

// A Schema compiles the rules of one source against that source's events:
// pkg/rules/host for runtime; the backend registers its cloud schemas. The
// core stays ignorant of every event shape.
type Schema interface {
	// Source is the `source:` value whose rules it compiles.
	Source() string
	// Check compiles the set's rules of this source and returns every
	// error, each with its file and line (nil when all compile).
	Check(set *Set) error
}

var (
	schemaMu sync.Mutex
	schemas  = map[string]Schema{}
)

// Register makes a schema available to CheckAll (schema packages call it
// from init). A second schema for one source replaces the first.
func Register(s Schema) {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	schemas[s.Source()] = s
}

// CheckAll compiles every rule with the schema of its source and returns
// every error; unchecked counts, by source, the rules whose source has no
// schema in this binary.
func CheckAll(set *Set) (unchecked map[string]int, err error) {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	present := map[string]int{}
	for _, r := range set.Rules {
		src := r.Source
		if src == "" {
			src = SourceRuntime
		}
		present[src]++
	}
	sources := make([]string, 0, len(present))
	for s := range present {
		sources = append(sources, s)
	}
	sort.Strings(sources)
	var all Errors
	for _, src := range sources {
		s, ok := schemas[src]
		if !ok {
			if unchecked == nil {
				unchecked = map[string]int{}
			}
			unchecked[src] = present[src]
			continue
		}
		if err := s.Check(set); err != nil {
			var es Errors
			if errors.As(err, &es) {
				all = append(all, es...)
			} else {
				all = append(all, &Error{Msg: err.Error()})
			}
		}
	}
	if len(all) > 0 {
		return unchecked, all
	}
	return unchecked, nil
}
