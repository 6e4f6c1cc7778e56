// Package cli holds Vigil's cobra commands: flags become configuration, and
// the work is done by the packages the commands call.
package cli
