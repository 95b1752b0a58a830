//go:build unix

package hnsw

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used (user + system). On a
// shared machine it is steadier than wall time: it stops while the
// benchmark is descheduled.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
