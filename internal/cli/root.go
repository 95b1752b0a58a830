package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Version is the version sextant reports. Release builds set it with
// -ldflags "-X github.com/sextantdb/sextant/internal/cli.Version=…".
var Version = "0.1.0-dev"

// NewRootCommand returns the sextant command with all its subcommands.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "sextant",
		Short: "Sextant: a vector database that cannot lose recall silently",
		// Errors are printed once by Main; usage only for flag errors.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.AddCommand(newVersionCmd(), newServeCmd(), newBenchCmd(), newLoadCmd(), newDoctorCmd())
	return root
}

// Main runs the sextant command with args (without the program name) and
// returns the process exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var usage *doctorUsageError
		if errors.As(err, &usage) {
			return usage.report(args, stdout, stderr)
		}
		if ec, ok := err.(interface{ ExitCode() int }); ok {
			return ec.ExitCode() // the command printed its report (sextant doctor)
		}
		fmt.Fprintf(stderr, "sextant: %v\n", err)
		return 1
	}
	return 0
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
