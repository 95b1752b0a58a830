package monitor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSamplerBudget drives the sampler with a fake clock at several query
// rates and exact re-run costs; the CPU charged never exceeds
// Budget·elapsed + Burst + one re-run, and low traffic still gets samples.
func TestSamplerBudget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		qps     int
		cost    time.Duration
		minLive int // live samples expected at least
	}{
		{"100qps cheap", 100, 500 * time.Microsecond, 1000},
		{"1000qps cheap", 1000, 500 * time.Microsecond, 5000},
		{"1000qps costly", 1000, 20 * time.Millisecond, 100},
		{"10qps", 10, 2 * time.Millisecond, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			s := NewSampler(SamplerOptions{Clock: clk.Now, Rand: newRand(7)})
			const secs = 120
			step := time.Second / time.Duration(tc.qps)
			var spent time.Duration
			for i := 0; i < secs*tc.qps; i++ {
				clk.Advance(step)
				if s.Sample() {
					s.Done(tc.cost)
					spent += tc.cost
				}
			}
			st := s.Stats()
			bound := time.Duration(DefaultBudget*float64(secs*time.Second)) + DefaultBurst + tc.cost
			require.LessOrEqual(t, spent, bound)
			require.Equal(t, spent, st.Spent)
			require.GreaterOrEqual(t, int(st.Live), tc.minLive)
			// Long-run share of one core, after the burst.
			require.Less(t, float64(spent-DefaultBurst)/float64(secs*time.Second), DefaultBudget*1.02)
			t.Logf("%s: %d of %d sampled, %.2f%% of a core", tc.name, st.Live, st.Offered, 100*float64(spent)/float64(secs*time.Second))
		})
	}
}

func TestSamplerSpreadsSamples(t *testing.T) {
	// At 1000 qps and 1 ms per re-run the budget affords ~50 re-runs a second:
	// picks must be spread over the second, not the first 50 queries.
	clk := newFakeClock()
	s := NewSampler(SamplerOptions{Clock: clk.Now, Rand: newRand(3)})
	var firstHalf, secondHalf int
	for i := 0; i < 60_000; i++ {
		clk.Advance(time.Millisecond)
		if s.Sample() {
			s.Done(time.Millisecond)
			if i >= 10_000 { // after warm-up
				if i%1000 < 500 {
					firstHalf++
				} else {
					secondHalf++
				}
			}
		}
	}
	require.Greater(t, firstHalf+secondHalf, 1500)
	require.InDelta(t, 1, float64(firstHalf)/float64(secondHalf), 0.2)
}

func TestSamplerIdleProbes(t *testing.T) {
	clk := newFakeClock()
	s := NewSampler(SamplerOptions{Clock: clk.Now, Rand: newRand(1), MinInterval: 2 * time.Second})
	seen := map[int]bool{}
	for range 240 { // 60 s of ticks every 250 ms, no traffic
		clk.Advance(250 * time.Millisecond)
		if slot, ok := s.Tick(1000); ok {
			require.True(t, slot >= 0 && slot < 1000)
			seen[slot] = true
			s.Done(5 * time.Millisecond)
		}
	}
	st := s.Stats()
	require.InDelta(t, 30, int(st.Stored), 1)
	require.Greater(t, len(seen), 25)
	_, ok := s.Tick(0)
	require.False(t, ok)

	// A probe too costly for the budget is throttled below the minimum rate.
	clk2 := newFakeClock()
	s2 := NewSampler(SamplerOptions{Clock: clk2.Now, Rand: newRand(1)})
	var spent time.Duration
	for range 2400 { // 600 s
		clk2.Advance(250 * time.Millisecond)
		if _, ok := s2.Tick(10); ok {
			s2.Done(time.Second)
			spent += time.Second
		}
	}
	require.LessOrEqual(t, spent, time.Duration(DefaultBudget*600*float64(time.Second))+DefaultBurst+time.Second)
	require.Greater(t, spent, 20*time.Second)

	// Traffic suppresses probes.
	clk3 := newFakeClock()
	s3 := NewSampler(SamplerOptions{Clock: clk3.Now, Rand: newRand(1)})
	probes := 0
	for range 4000 {
		clk3.Advance(10 * time.Millisecond)
		if s3.Sample() {
			s3.Done(100 * time.Microsecond)
		}
		if _, ok := s3.Tick(10); ok {
			probes++
		}
	}
	require.Zero(t, probes)
}
