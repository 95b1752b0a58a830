package sextant

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMetricCheckOnRealData: the metric check on the shared data sets, in
// their intended metrics (no finding: wordnet-use512 and glove-twitter-25 in
// cosine, fashion-mnist-784 in l2, where its norms vary legitimately) and in
// wrong ones: GloVe (non-unit, signed) in ip is critical and in the default
// l2 a warning, both naming cosine; Fashion-MNIST pixels in ip are critical
// naming l2, and in cosine an info naming l2. Unit vectors (wordnet) are
// consistent in every metric.
func TestMetricCheckOnRealData(t *testing.T) {
	n := 0
	if testing.Short() {
		n = 3000
	}
	cases := []struct {
		data      string
		metric    Metric
		severity  string // "" = no finding
		suggested string
	}{
		{"wordnet-use512", Cosine, "", "cosine"},
		{"glove-twitter-25", Cosine, "", "cosine"},
		{"fashion-mnist-784", L2, "", "l2"},
		{"wordnet-use512", IP, "", "ip"},
		{"wordnet-use512", L2, "", "l2"},
		{"glove-twitter-25", IP, "critical", "cosine"},
		{"glove-twitter-25", L2, "warning", "cosine"},
		{"fashion-mnist-784", IP, "critical", "l2"},
		{"fashion-mnist-784", Cosine, "info", "l2"},
	}
	for _, tc := range cases {
		t.Run(tc.data+"/"+string(tc.metric), func(t *testing.T) {
			t.Parallel() // each waits ~3 s for its 32 samples, at little CPU
			max := n
			if tc.data == "wordnet-use512" && n == 0 {
				max = 20000 // the whole set adds nothing to a check of unit vectors
			}
			ds := loadDataset(t, tc.data, max)
			db := openTest(t, t.TempDir(), &Options{ExactThreshold: 1 << 30, MonitorBudget: 1})
			t.Cleanup(func() { closeTest(t, db) })
			c, err := db.Default().CreateCollection("metric-check", &CollectionConfig{Metric: tc.metric})
			require.NoError(t, err)
			rows := make([]int, len(ds.Base))
			for i := range rows {
				rows[i] = i
			}
			for i := 0; i < len(rows); i += 2000 {
				require.NoError(t, c.Add(ctx, rowRecords(ds.Base, rows[i:min(i+2000, len(rows))], "r")))
			}
			start := time.Now()
			var h Health
			require.Eventually(t, func() bool {
				h, err = c.Health()
				require.NoError(t, err)
				return h.Metric.Verdict != "pending"
			}, 60*time.Second, 10*time.Millisecond)
			t.Logf("%s in %s: verdict %q after %v (%d samples): overlap cosine %.3f l2 %.3f ip %.3f, norm CV %.3g, negative share %.2f",
				tc.data, tc.metric, h.Metric.Verdict, time.Since(start).Round(time.Millisecond), h.Metric.Samples,
				h.Metric.Cosine, h.Metric.L2, h.Metric.IP, h.Metric.Norms.CV(), h.Metric.NegativeShare)
			var got []OpenFinding
			for _, f := range h.Findings {
				if f.Code == "metric_mismatch" {
					got = append(got, f)
				}
			}
			if tc.severity == "" {
				require.Empty(t, got, "false alarm: %+v", got)
				require.Equal(t, "ok", h.Metric.Verdict)
				return
			}
			require.Len(t, got, 1, "verdict %q", h.Metric.Verdict)
			require.Equal(t, tc.severity, got[0].Severity.String())
			require.Equal(t, tc.suggested, h.Metric.Suggested)
			require.Contains(t, got[0].Message, "hnsw:space "+tc.suggested)
		})
	}
}
