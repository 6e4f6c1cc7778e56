package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigil-sec/vigil/pkg/config"
	"github.com/vigil-sec/vigil/pkg/engine"
	"github.com/vigil-sec/vigil/pkg/rules"
	"github.com/vigil-sec/vigil/pkg/rules/cloud"
	"github.com/vigil-sec/vigil/pkg/rules/host"
)

func newRulesCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "Lint, list and test detection rules"}
	var (
		noBuiltin  bool
		configPath string
	)
	// sources are the rules the agent would load: the vendor rules and the
	// configured rules.paths, or the paths given instead.
	var srcErr error
	sources := func(paths []string) rules.Sources {
		cfg, err := config.Load(configPath)
		if err != nil {
			srcErr = err
			return rules.Sources{}
		}
		src := rules.Sources{Builtin: cfg.Rules.Builtin && !noBuiltin, VendorDir: cfg.Rules.VendorDir, Paths: cfg.Rules.Paths}
		if len(paths) > 0 {
			src.Paths = paths
		}
		return src
	}
	cmd.PersistentFlags().BoolVar(&noBuiltin, "no-builtin", false, "do not load the vendor rules first")
	cmd.PersistentFlags().StringVarP(&configPath, "config", "c", config.DefaultPath, "the agent configuration whose rules.paths are used when no PATH is given")

	lint := &cobra.Command{
		Use:   "lint [PATH...]",
		Short: "Check rule files (after the vendor rules); errors name file and line",
		RunE: func(cmd *cobra.Command, args []string) error {
			src := sources(args)
			if srcErr != nil {
				return srcErr
			}
			rs, err := host.LoadAndCompile(src)
			if err != nil {
				fmt.Fprintln(stdout, err)
				return &exitError{code: 1, msg: "rule errors"}
			}
			fmt.Fprintf(stdout, "ok: %d runtime rules enabled, %d disabled, version %s\n", len(rs.Rules), rs.Disabled, rs.Version)
			// The other sources' rules, with their schemas where this
			// binary has them.
			set, _ := rules.Load(src)
			unchecked, err := rules.CheckAll(set)
			if err != nil {
				fmt.Fprintln(stdout, err)
				return &exitError{code: 1, msg: "rule errors"}
			}
			for s, n := range unchecked {
				fmt.Fprintf(stdout, "note: %d %s rules parsed, not compiled: this build has no %s schema (the backend evaluates them)\n", n, s, s)
			}
			if crs, err := cloud.Compile(set); err == nil && len(crs.Rules)+crs.Disabled > 0 {
				fmt.Fprintf(stdout, "ok: %d cloud rules enabled (run by the backend), %d disabled\n", len(crs.Rules), crs.Disabled)
			}
			return nil
		},
	}

	var asJSON bool
	list := &cobra.Command{
		Use:   "list [PATH...]",
		Short: "List the rules that would be loaded",
		RunE: func(cmd *cobra.Command, args []string) error {
			src := sources(args)
			if srcErr != nil {
				return srcErr
			}
			set, err := rules.Load(src)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(set.Rules)
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "RULE\tSOURCE\tSEVERITY\tTACTIC\tTECHNIQUE\tEVENTS\tACTION\tENABLED")
			for _, r := range set.Rules {
				evs := r.Events
				if r.Sequence != nil {
					evs = []string{"sequence"}
				}
				src := r.Source
				if src == "" {
					src = rules.SourceRuntime
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", r.Name, src, r.Severity, r.Tactic, r.Technique, strings.Join(evs, ","), r.Action, r.Enabled)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var fixtures []string
	test := &cobra.Command{
		Use:   "test [--fixtures FILE...] [PATH...]",
		Short: "Run fixture events through the rules and check the expected alerts",
		Long: "Run fixtures (the vendor rules' own, and any --fixtures files) through the rules.\n" +
			"Fixtures run with host.agent_pid = 4242.",
		RunE: func(cmd *cobra.Command, args []string) error {
			src := sources(args)
			if srcErr != nil {
				return srcErr
			}
			rs, err := host.LoadAndCompile(src)
			if err != nil {
				fmt.Fprintln(stdout, err)
				return &exitError{code: 1, msg: "rule errors"}
			}
			var all []engine.Fixture
			if !noBuiltin {
				names, content := rules.BuiltinFixtures()
				for _, n := range names {
					fx, err := engine.ParseFixtures(n, content[n])
					if err != nil {
						return err
					}
					all = append(all, fx...)
				}
			}
			for _, f := range fixtures {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				fx, err := engine.ParseFixtures(f, b)
				if err != nil {
					return err
				}
				all = append(all, fx...)
			}
			// Runtime fixtures through the engine; other sources' through
			// their schemas where this binary has them.
			set, _ := rules.Load(src)
			runtimeFx, otherFx := rules.SplitFixtures(set, all)
			results := engine.RunFixtures(rs, runtimeFx, host.Host{Name: "fixture-host", AgentPID: 4242})
			other, notRun := rules.RunOtherFixtures(set, otherFx)
			results = append(results, other...)
			for s, n := range notRun {
				fmt.Fprintf(stdout, "note: %d %s fixtures not run: this build has no %s schema\n", n, s, s)
			}
			failed := 0
			for _, r := range results {
				if !r.Passed {
					failed++
					fmt.Fprintf(stdout, "FAIL %s %q %s: %s\n", r.Pos, r.Rule, r.Case, r.Detail)
				}
			}
			fmt.Fprintf(stdout, "%d passed, %d failed\n", len(results)-failed, failed)
			if failed > 0 {
				return &exitError{code: 1, msg: "fixtures failed"}
			}
			return nil
		},
	}
	test.Flags().StringSliceVar(&fixtures, "fixtures", nil, "more fixture files")
	cmd.AddCommand(lint, list, test, newRulesPushCmd(stdout, &noBuiltin))
	return cmd
}

// bundleFiles reads the rule files of paths (files, or directories' *.yaml
// and *.yml) into bundle files named by their base names.
func bundleFiles(paths []string) ([]rules.BundleFile, error) {
	var out []rules.BundleFile
	seen := map[string]string{}
	add := func(p string) error {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name := filepath.Base(p)
		if prev, ok := seen[name]; ok {
			return fmt.Errorf("%s and %s have the same name: a bundle holds base names", prev, p)
		}
		seen[name] = p
		out = append(out, rules.BundleFile{Name: name, Content: string(b)})
		return nil
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			if err := add(p); err != nil {
				return nil, err
			}
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
				if err := add(filepath.Join(p, e.Name())); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no rule files (*.yaml, *.yml) in the paths given")
	}
	return out, nil
}

func newRulesPushCmd(stdout io.Writer, noBuiltin *bool) *cobra.Command {
	var api, tokenFile, env string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "push [--env ENV] PATH...",
		Short: "Validate rule files and publish them to every agent of an environment (and the backend's cloud rules)",
		Long: "Validate the rule files (after the vendor rules, with the same compilers as the agents and\n" +
			"the backend) and publish them as one versioned bundle for the environment. Agents\n" +
			"watching it load it within seconds after the vendor rules and before their local\n" +
			"/etc/vigil/rules.d (host overrides win); an agent that cannot compile it keeps its\n" +
			"rules and reports the error (vigil sensors). Pushing replaces the environment's bundle.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if env == "" {
				env = "default"
				if bc, err := config.LoadBackend(config.DefaultBackendPath); err == nil {
					env = bc.Env
				}
			}
			files, err := bundleFiles(args)
			if err != nil {
				return err
			}
			b, err := rules.NewBundle(env, files)
			if err != nil {
				return err
			}
			// Checked as files first, so errors name them; then as the
			// bundle the agents will load.
			set, err := rules.Load(rules.Sources{Builtin: !*noBuiltin, VendorDir: rules.DefaultVendorDir, Paths: args})
			if err == nil {
				_, err = rules.CheckAll(set)
			}
			if err == nil {
				err = b.Check(!*noBuiltin, rules.DefaultVendorDir)
			}
			if err != nil {
				fmt.Fprintln(stdout, err)
				return &exitError{code: 1, msg: "rule errors: nothing pushed"}
			}
			if dryRun {
				_, err := fmt.Fprintf(stdout, "ok: bundle %s for env %s (%d files), not pushed\n", b.Version, env, len(files))
				return err
			}
			c, err := newAPIClient(api, tokenFile)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(b)
			var out struct {
				Version string `json:"version"`
			}
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/rules/bundles", body, &out); err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdout, "pushed bundle %s to env %s (%d files)\n", out.Version, env, len(files))
			return err
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "the environment (default: env of /etc/vigil/backend.yaml, else default)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate and print the version; push nothing")
	apiFlags(cmd, &api, &tokenFile)
	return cmd
}
