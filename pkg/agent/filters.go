package agent

import (
	"strings"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/proc"
	"github.com/vigil-sec/vigil/pkg/rules/host"
)

// kernelFilters are the prefix tries the sensor is given: the configured
// read-watched prefixes with those the rules need, and the rules'
// write-watched ones.
type kernelFilters struct {
	Watched, WriteWatched []string
}

// maxHomes bounds the home directories a "~/" prefix is expanded to (the
// kernel's trie holds 512 prefixes in all).
const maxHomes = 32

// KernelFilters derives the kernel's prefix sets from the configuration and
// the rules ("~/" prefixes under every login user's home directory), and
// checks they fit the kernel's tries, so `vigil config
// check`, start and reload refuse a set the kernel would take only in part.
func KernelFilters(cfg config.Agent, rs *host.Ruleset) (kernelFilters, error) {
	seen := map[string]bool{}
	var f kernelFilters
	var homes []string
	for _, p := range append(append([]string(nil), cfg.WatchedPrefixes...), rs.WatchedPrefixes...) {
		expanded := []string{p}
		if rest, ok := strings.CutPrefix(p, "~/"); ok {
			if homes == nil {
				homes = proc.LoginHomes(cfg.HostRoot, maxHomes)
			}
			expanded = expanded[:0]
			for _, h := range homes {
				expanded = append(expanded, strings.TrimSuffix(h, "/")+"/"+rest)
			}
		}
		for _, p := range expanded {
			if !seen[p] {
				seen[p] = true
				f.Watched = append(f.Watched, p)
			}
		}
	}
	f.WriteWatched = rs.WriteWatchedPrefixes
	if err := host.CheckPrefixes("watched_prefixes and the rules' read-watched", f.Watched); err != nil {
		return f, err
	}
	return f, host.CheckPrefixes("the rules' write-watched", f.WriteWatched)
}
