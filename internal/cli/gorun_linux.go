//go:build linux

package cli

import (
	"log/slog"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// stopWithGoRun makes serve stop (with SIGTERM, so cleanly) when its parent
// is `go run` and that exits; under any other parent (a shell, nohup,
// systemd, a test binary) it does nothing, so that a server started with
// nohup outlives its shell. It must be called once the SIGTERM handler is
// installed: from then on the signal may come at any time.
//
// The parent's argv is read from /proc/<ppid>/cmdline. The kernel sends the
// death signal when the thread that forked us exits, not the whole process;
// the go tool keeps its threads while it waits for the program it runs, so
// this is its exit. If the parent died before the prctl took effect the
// signal never comes; getppid then differs from the parent we checked, and
// we signal ourselves.
func stopWithGoRun(log *slog.Logger) {
	ppid := os.Getppid()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(ppid) + "/cmdline")
	if err != nil || !isGoRunArgs(strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")) {
		return
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGTERM), 0, 0, 0); err != nil {
		log.Warn("started by go run, but cannot ask to be stopped when it exits; SIGTERM the server, not go run",
			"go_run_pid", ppid, "err", err)
		return
	}
	if os.Getppid() != ppid {
		log.Warn("go run exited before the server started; stopping", "go_run_pid", ppid)
		_ = unix.Kill(os.Getpid(), unix.SIGTERM)
		return
	}
	log.Debug("started by go run: the server stops when go run exits", "go_run_pid", ppid)
}
