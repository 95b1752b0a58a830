package monitor

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sextantdb/sextant/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a settable clock for the monitors.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var dsCache sync.Map

// loadDataset loads a shared data set once per test binary (raw vectors, not
// normalized).
func loadDataset(t *testing.T, name string) *testutil.Dataset {
	t.Helper()
	if v, ok := dsCache.Load(name); ok {
		return v.(*testutil.Dataset)
	}
	ds, err := testutil.LoadDataset(name, 0)
	require.NoError(t, err)
	v, _ := dsCache.LoadOrStore(name, ds)
	return v.(*testutil.Dataset)
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5eed)) }
