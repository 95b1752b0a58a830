package cli

import (
	"path/filepath"
	"strings"
)

// `go run ./cmd/sextant serve` runs the built binary as a child of the go
// tool. The go tool ignores SIGINT (Ctrl-C in a terminal reaches the whole
// foreground process group, so the server gets it too) but not SIGTERM: a
// SIGTERM sent to it (kill <pid>, a supervisor, a container runtime) ends the
// go tool alone and orphans the server, which goes on holding its port and
// its data directory. On Linux serve therefore asks the kernel for a SIGTERM
// when the go tool exits (PR_SET_PDEATHSIG, gorun_linux.go), which it handles
// like any other SIGTERM; elsewhere it does nothing (gorun_other.go), and the
// README tells services to run bin/sextant (make build) instead.

// isGoRunArgs reports whether args, a process's argv, are those of `go run`:
// argv[0] names the go tool, and its subcommand, after the go command's only
// global flag (-C dir, which must come first), is run.
func isGoRunArgs(args []string) bool {
	if len(args) < 2 || filepath.Base(args[0]) != "go" {
		return false
	}
	args = args[1:]
	switch {
	case (args[0] == "-C" || args[0] == "--C") && len(args) >= 2:
		args = args[2:]
	case strings.HasPrefix(args[0], "-C=") || strings.HasPrefix(args[0], "--C="):
		args = args[1:]
	}
	return len(args) > 0 && args[0] == "run"
}
