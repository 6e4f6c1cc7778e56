package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/pkg/config"
)

// parseAgent parses agent flags in-process and resolves the configuration
// (file, then environment, then flags) without starting anything.
func parseAgent(t *testing.T, file string, environ []string, args ...string) (config.Agent, error) {
	t.Helper()
	var out bytes.Buffer
	af := &agentFlags{cfg: config.Default()}
	cmd := newAgentCmdWith(&out, &out, af)
	if file == "" { // hermetic: never the host's /etc/vigil/agent.yaml
		file = filepath.Join(t.TempDir(), "empty.yaml")
		os.WriteFile(file, nil, 0o600)
	}
	args = append([]string{"--config", file}, args...)
	if err := cmd.ParseFlags(args); err != nil {
		return config.Agent{}, err
	}
	return agentConfig(cmd.Flags(), af.path, &af.cfg, environ)
}

func TestAgentFlagsOverrideEnvironmentOverrideFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "agent.yaml")
	os.WriteFile(file, []byte("env: fromfile\ntelemetry: context\nlog_level: warn\noutput: json\n"), 0o600)
	cfg, err := parseAgent(t, file, []string{"VIGIL_ENV=fromenv", "VIGIL_LOG_LEVEL=error"},
		"--env", "fromflag", "--print-events", "--rules", "/srv/rules", "--watch", "/srv/keys/", "--spool-dir", "/srv/spool")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Env != "fromflag" || cfg.LogLevel != "error" || cfg.Telemetry != "context" || cfg.Output != "json" || !cfg.PrintEvents ||
		len(cfg.Rules.Paths) != 1 || cfg.Rules.Paths[0] != "/srv/rules" || cfg.Spool.Dir != "/srv/spool" ||
		cfg.WatchedPrefixes[len(cfg.WatchedPrefixes)-1] != "/srv/keys/" {
		t.Errorf("%+v", cfg)
	}
	// Unset flags keep the file's values (flag defaults never win).
	cfg, err = parseAgent(t, file, nil)
	if err != nil || cfg.Output != "json" || cfg.Env != "fromfile" || cfg.PrintEvents {
		t.Errorf("without flags: %v %+v", err, cfg)
	}
}

func TestAgentBadValuesNameTheFlagOrVariable(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--output", "yaml"}, `flag --output (output): must be text, json, none or stdout, not "yaml"`},
		{nil, []string{"--spool-dir", "relative"}, `flag --spool-dir (spool.dir): "relative" must be an absolute path`},
		{[]string{"VIGIL_TELEMETRY=all"}, nil, `environment variable VIGIL_TELEMETRY (telemetry): must be alerts, context or full, not "all"`},
	} {
		_, err := parseAgent(t, "", tc.env, tc.args...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v %v: %v, want %s", tc.env, tc.args, err, tc.want)
		}
	}
}

// Commands refuse what they do not know.
func TestUnknownCommandsAndStrayArguments(t *testing.T) {
	for _, args := range [][]string{{"rules", "lnt"}, {"status", "extra"}, {"config", "chek"}, {"frobnicate"}} {
		var out bytes.Buffer
		if code := Execute(t.Context(), args, &out, &out); code == 0 || !strings.Contains(out.String(), "unknown command") {
			t.Errorf("%v: exit %d: %s", args, code, out.String())
		}
	}
	var out bytes.Buffer
	Execute(t.Context(), []string{"rules", "lnt"}, &out, &out)
	if !strings.Contains(out.String(), "did you mean lint or list?") {
		t.Errorf("no suggestion: %s", out.String())
	}
}
