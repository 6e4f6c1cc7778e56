package event

import (
	"strings"
	"testing"
)

func TestInterpreterProgram(t *testing.T) {
	for _, c := range []struct {
		name, cmd, source, script string
	}{
		{"bash", "bash /tmp/x.sh a b", ProgramScript, "/tmp/x.sh"},
		{"bash", "bash -x ./x.sh", ProgramScript, "/home/u/x.sh"},
		{"bash", "bash -eo pipefail run.sh", ProgramScript, "/home/u/run.sh"},
		{"bash", "bash -o pipefail -c id", ProgramInline, ""},
		{"dash", "sh -ec id", ProgramInline, ""},
		{"bash", "bash -lc id", ProgramInline, ""},
		{"bash", "bash", ProgramStdin, ""},
		{"bash", "-bash", ProgramStdin, ""},
		{"bash", "bash -s -- arg", ProgramStdin, ""},
		{"bash", "bash -i", ProgramStdin, ""},
		{"bash", "bash --norc -- /dev/shm/s", ProgramScript, "/dev/shm/s"},
		{"busybox", "busybox sh /tmp/a", ProgramScript, "/tmp/a"},
		{"busybox", "sh /tmp/a", ProgramScript, "/tmp/a"},
		{"busybox", "busybox wget http://x", "", ""},
		{"python3.11", "python3 -u /dev/shm/p.py", ProgramScript, "/dev/shm/p.py"},
		{"python3", "python3 -W ignore x.py", ProgramScript, "/home/u/x.py"},
		{"python3", "python3 -c print(1)", ProgramInline, ""},
		{"python3", "python3 -uc print(1)", ProgramInline, ""},
		{"python3", "python3 -cprint(1)", ProgramInline, ""},
		{"python3", "python3 -m http.server", ProgramModule, ""},
		{"python3", "python3 -", ProgramStdin, ""},
		{"python3", "python3", ProgramStdin, ""},
		{"perl", "perl -ne print", ProgramInline, ""},
		{"perl", "perl -MFile::Temp x.pl", ProgramScript, "/home/u/x.pl"},
		{"perl", "perl -I /opt/lib /tmp/y.pl", ProgramScript, "/tmp/y.pl"},
		{"ruby", "ruby -e puts", ProgramInline, ""},
		{"php8.2", "php -r system('id');", ProgramInline, ""},
		{"php", "php -f /var/www/x.php", ProgramScript, "/var/www/x.php"},
		{"php", "php -d display_errors=1 s.php", ProgramScript, "/home/u/s.php"},
		{"node", "node --eval=require('child_process')", ProgramInline, ""},
		{"nodejs", "node -r ts-node/register app.js", ProgramScript, "/home/u/app.js"},
		{"lua5.4", "lua /tmp/z.lua", ProgramScript, "/tmp/z.lua"},
		{"ls", "ls /tmp/x.sh", "", ""},
		{"curl", "curl -o /tmp/x http://h", "", ""},
	} {
		src, script := InterpreterProgram(c.name, strings.Fields(c.cmd), "/home/u")
		if src != c.source || script != c.script {
			t.Errorf("%s %q: %q %q, want %q %q", c.name, c.cmd, src, script, c.source, c.script)
		}
	}
}

func FuzzInterpreterProgram(f *testing.F) {
	f.Add("bash", "bash -eo pipefail x.sh", "/w")
	f.Add("perl", "perl -MFoo -e 1", "")
	f.Fuzz(func(t *testing.T, name, cmd, cwd string) {
		src, script := InterpreterProgram(name, strings.Split(cmd, " "), cwd)
		if src != ProgramScript && script != "" {
			t.Errorf("%q: script %q with source %q", cmd, script, src)
		}
	})
}
