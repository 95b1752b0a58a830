package engine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// verifyAtCleanup registers c's consistency check (Verify: id map, record
// table, live set and graph agree) to run when the test ends, if c is still
// open then, as bbolt checks its database after every test. A test that
// closes c itself calls closeVerified instead of Close.
func verifyAtCleanup(t testing.TB, c *Collection) {
	t.Helper()
	t.Cleanup(func() {
		if !c.closed.Load() {
			require.NoError(t, c.Verify(), "at cleanup")
		}
	})
}

// closeVerified checks c's consistency, then closes it.
func closeVerified(t testing.TB, c *Collection) {
	t.Helper()
	require.NoError(t, c.Verify(), "before close")
	require.NoError(t, c.Close())
}
