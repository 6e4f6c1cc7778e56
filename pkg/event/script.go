package event

import (
	"path"
	"strings"
)

// Where an interpreter's program comes from (ExecInfo.ProgramSource).
const (
	ProgramScript = "script" // a file: the shebang's, or the interpreter's argument
	ProgramInline = "inline" // code on the command line (sh -c, python -c, perl -e)
	ProgramStdin  = "stdin"  // read from standard input (sh, sh -s, python -)
	ProgramModule = "module" // python -m
)

// interpreter syntax: the options that take code inline, read a module, or
// take a value (so the next argument is not the script).
type interpSyntax struct {
	inline, module, file map[string]bool // file: the option's value is the script (php -f)
	value                map[string]bool
	// Single-dash options combine (sh -ec, perl -ne): a letter of
	// bundleInline (bundleStdin) in a bundle makes the code inline (read
	// from stdin); one of bundleValue takes the rest of the bundle as its
	// value (perl -Mstrict), one of bundleNext the next argument (sh -eo
	// pipefail).
	bundleInline, bundleStdin, bundleValue, bundleNext string
}

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

var (
	shellSyntax    = &interpSyntax{inline: set("-c"), value: set("-o", "+o", "-O", "+O", "--rcfile", "--init-file"), bundleInline: "c", bundleStdin: "s", bundleNext: "oO"}
	interpSyntaxes = map[string]*interpSyntax{
		"python": {inline: set("-c"), module: set("-m"), value: set("-W", "-X", "-Q", "--check-hash-based-pycs"), bundleInline: "c", bundleValue: "WXQm"},
		"perl":   {inline: set("-e", "-E"), value: set("-I", "-M", "-m", "-x", "-C"), bundleInline: "eE", bundleValue: "IMmxCl0iFd"},
		"ruby":   {inline: set("-e"), value: set("-I", "-r", "-C", "-E", "-K", "-F"), bundleInline: "e", bundleValue: "IrCEKFx0l"},
		"php":    {inline: set("-r", "-B", "-R", "-E"), file: set("-f"), value: set("-c", "-d", "-z", "-t")},
		"node":   {inline: set("-e", "--eval", "-p", "--print"), value: set("-r", "--require", "--import", "--loader", "--input-type")},
		"lua":    {inline: set("-e"), value: set("-l")},
		"tclsh":  {},
	}
	shellNames = set("sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "ash", "rbash", "fish", "tcsh", "csh", "busybox")
)

// syntaxOf returns the interpreter syntax for a program name (versioned
// names too: python3.11, perl5.36, php8.2, lua5.4, nodejs), or nil.
func syntaxOf(name string) *interpSyntax {
	if shellNames[name] {
		return shellSyntax
	}
	base := strings.TrimRight(name, "0123456789.")
	if base == "nodejs" {
		base = "node"
	}
	return interpSyntaxes[base]
}

// InterpreterProgram says where an interpreter started as name with args
// (argv, args[0] included) takes its program from, and the script's path
// (absolute against cwd) when it is a file. Programs that are not
// interpreters give "", "".
func InterpreterProgram(name string, args []string, cwd string) (source, script string) {
	syn := syntaxOf(name)
	if syn == nil {
		return "", ""
	}
	if name == "busybox" { // busybox sh ..., or an applet link named sh
		switch {
		case len(args) > 0 && shellNames[Basename(args[0])] && Basename(args[0]) != "busybox":
		case len(args) > 1 && shellNames[args[1]] && args[1] != "busybox":
			args = args[1:]
		default:
			return "", ""
		}
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return ProgramScript, absolute(args[i+1], cwd)
			}
			return ProgramStdin, ""
		case a == "-" || a == "-s" && syn == shellSyntax:
			return ProgramStdin, ""
		case syn.inline[a] || syn.inline[optName(a)]:
			return ProgramInline, ""
		case syn.module[a] || syn.module[optName(a)]:
			return ProgramModule, ""
		case syn.file[a]:
			if i+1 < len(args) {
				return ProgramScript, absolute(args[i+1], cwd)
			}
			return "", ""
		case syn.value[a]:
			i++ // the option's value
		case len(a) > 1 && (a[0] == '-' || a[0] == '+' && syn == shellSyntax):
			if a[0] != '-' || strings.HasPrefix(a, "--") {
				continue
			}
		bundle:
			for _, c := range a[1:] {
				switch {
				case strings.ContainsRune(syn.bundleInline, c):
					return ProgramInline, ""
				case strings.ContainsRune(syn.bundleStdin, c):
					return ProgramStdin, ""
				case strings.ContainsRune(syn.bundleValue, c):
					break bundle
				case strings.ContainsRune(syn.bundleNext, c):
					i++
					break bundle
				}
			}
		default:
			return ProgramScript, absolute(a, cwd)
		}
	}
	return ProgramStdin, ""
}

// optName is an option's name without an attached value: -c'code' (python
// -cprint(1)) and --eval=code.
func optName(a string) string {
	if strings.HasPrefix(a, "--") {
		if i := strings.IndexByte(a, '='); i > 0 {
			return a[:i]
		}
		return a
	}
	if len(a) > 2 && a[0] == '-' {
		return a[:2]
	}
	return a
}

// absolute makes p absolute against cwd (clean); an empty cwd leaves a
// relative p as it is.
func absolute(p, cwd string) string {
	if p == "" || strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	if cwd == "" {
		return p
	}
	return path.Join(cwd, p)
}
