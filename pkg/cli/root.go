package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vigil-sec/vigil/pkg/version"
)

// Execute runs the root command with a context cancelled by SIGTERM/SIGINT.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRoot(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "vigil:", err)
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

// NewRoot builds the command tree.
func NewRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "vigil",
		Short:         "Runtime threat detection for cloud VMs",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
	}
	root.SetVersionTemplate("vigil {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newAgentCmd(stdout, stderr), newCheckCmd(stdout), newStatusCmd(stdout), newRulesCmd(stdout),
		newSimulateCmd(stdout), newSimulateChildCmd(), newEnrollCmd(stdout), newConfigCmd(stdout), newTailCmd(stdout),
		newVersionCmd(stdout), newGenDocsCmd(stdout), newBackendCmd(stdout, stderr), newIngestCmd(stdout, stderr, os.Stdin),
		newDetectionsCmd(stdout), newThreatsCmd(stdout), newSensorsCmd(stdout), newRunCmd(stdout, stderr))
	strict(root)
	return root
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version (the package's) and the commit",
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(stdout, "vigil", version.String())
			return err
		},
	}
}

// strict makes every command refuse what it does not understand: a group
// (rules, config) given an unknown subcommand fails with a suggestion
// instead of printing help and exiting 0, and a command that takes no
// arguments refuses stray ones.
func strict(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strict(sub)
	}
	if c.DisableFlagParsing || c.Name() == "help" || c.Name() == "completion" || c.HasParent() && c.Parent().Name() == "completion" {
		return
	}
	if c.HasSubCommands() {
		c.SuggestionsMinimumDistance = 2
		c.Args = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return fmt.Errorf("%s (see %s --help)", msg, c.CommandPath())
		}
		if c.RunE == nil && c.Run == nil {
			c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		}
		return
	}
	if c.Args == nil && !strings.Contains(c.Use, " ") {
		c.Args = cobra.NoArgs
	}
}

// newLogger builds the injected zap logger: JSON to stderr at the given level.
func newLogger(level string, stderr io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(stderr), lvl)
	return zap.New(core), nil
}

type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) ExitCode() int { return e.code }
