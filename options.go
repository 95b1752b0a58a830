package sextant

import (
	"fmt"
	"log/slog"
	"runtime"

	"github.com/sextantdb/sextant/internal/storage/vfs"
)

// Options configure a DB. The zero value (or nil) is valid: Open clones the
// options and fills in defaults.
type Options struct {
	// Logger receives the DB's log lines. Default: discard.
	Logger *slog.Logger
	// ExactThreshold is the live-record count below which a collection is
	// served by exact search; above it an HNSW index is built in the
	// background. Default 10,000. A collection may override it.
	ExactThreshold int
	// NoSync acknowledges writes once they are in the OS, before fsync:
	// faster, but a power cut may lose the last writes. Default false.
	NoSync bool
	// Workers is the number of goroutines that insert into HNSW indexes.
	// Default GOMAXPROCS.
	Workers int
	// CheckpointBytes is how much WAL a collection accumulates before a
	// background checkpoint. Default 64 MiB.
	CheckpointBytes int64

	// MonitorBudget is the share of one core each collection's recall
	// monitor may spend re-running sampled queries exactly. Default 0.045
	// (with its 100 ms burst: under 5% of a core over any 20 s). The
	// monitors of all collections together use at most twice that (and
	// at least 10% of a core): they share one scheduler.
	MonitorBudget float64

	// FS is the file system all files go through; tests inject crashable or
	// failing ones. Default: the OS.
	FS vfs.FS
}

// EnsureDefaults fills unset fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ExactThreshold == 0 {
		o.ExactThreshold = 10_000
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.CheckpointBytes == 0 {
		o.CheckpointBytes = 64 << 20
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.MonitorBudget == 0 {
		o.MonitorBudget = 0.045
	}
}

// Validate reports options that cannot work.
func (o *Options) Validate() error {
	if o.ExactThreshold < 0 {
		return fmt.Errorf("%w: ExactThreshold %d < 0", ErrInvalidArgument, o.ExactThreshold)
	}
	if o.Workers < 0 {
		return fmt.Errorf("%w: Workers %d < 0", ErrInvalidArgument, o.Workers)
	}
	if o.MonitorBudget < 0 || o.MonitorBudget > 1 {
		return fmt.Errorf("%w: MonitorBudget %v outside [0, 1]", ErrInvalidArgument, o.MonitorBudget)
	}
	if o.CheckpointBytes < 0 {
		return fmt.Errorf("%w: CheckpointBytes %d < 0", ErrInvalidArgument, o.CheckpointBytes)
	}
	return nil
}
