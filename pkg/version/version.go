// Package version holds the build's version, set by the linker.
package version

// Version is the release (the package version: 0.1.<commits>), and Commit
// the git commit it was built from; both are set with -ldflags "-X ...".
var (
	Version = "dev"
	Commit  = ""
)

// String is the version with its commit, as `vigil version` prints it.
func String() string {
	if Commit == "" {
		return Version
	}
	return Version + " (commit " + Commit + ")"
}
