package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/vigil-sec/vigil/pkg/version"
)

// GenDocsCommand is the hidden command `make package` runs to write the man
// pages and shell completion scripts the packages install.
const GenDocsCommand = "__gendocs"

func newGenDocsCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:    GenDocsCommand + " DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			man := filepath.Join(dir, "man")
			comp := filepath.Join(dir, "completion")
			for _, d := range []string{man, comp} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			hdr := &doc.GenManHeader{Title: "VIGIL", Section: "8", Source: "Vigil " + version.Version, Manual: "Vigil manual"}
			if err := doc.GenManTree(root, hdr, man); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			for name, gen := range map[string]func(io.Writer) error{
				"vigil.bash": func(w io.Writer) error { return root.GenBashCompletionV2(w, true) },
				"_vigil":     root.GenZshCompletion,
				"vigil.fish": func(w io.Writer) error { return root.GenFishCompletion(w, true) },
			} {
				f, err := os.Create(filepath.Join(comp, name))
				if err != nil {
					return err
				}
				if err := gen(f); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdout, "man pages in %s, completion scripts in %s\n", man, comp)
			return nil
		},
	}
}
