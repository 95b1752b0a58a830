// Package monitor holds Sextant's recall guardrails as pure state machines:
// a rolling recall estimator and the sampler that feeds it, the ef
// autopilot, and drift detection over written vectors, queries and result
// distances. Nothing here touches files, HTTP, logs or global state; time
// comes from an injected clock and randomness from an injected *rand.Rand, so
// every decision is reproducible in tests.
//
// # Pieces
//
//   - RecallEstimator: per-query recall@k values (RecallAt, Observe) in a
//     sliding window bounded by count (Window, 1000) and age (MaxAge, 15 min).
//     Estimate gives the mean, the sample count and a 95% Wilson interval,
//     overall and split filtered/unfiltered. The Wilson interval on the mean
//     of values in [0, 1] is conservative (their variance is at most p(1-p))
//     and does not collapse when every sample is 1.
//   - Sampler: a token bucket of CPU time that fills at Budget (4.5% of one
//     core) up to Burst (100 ms). Sample() picks live queries at random at
//     the affordable rate; Tick(n) returns a stored-vector probe when nothing
//     was sampled for MinInterval (2 s); Done(cost) charges the measured cost
//     of each exact re-run. CPU spent ≤ Budget·elapsed + Burst + one re-run.
//   - Autopilot: holds a recall target (0.95) by moving ef within
//     [EfMin, EfMax] (10..1024). On ≥ MinSamples (200) samples taken at the
//     current ef: point estimate < target → ef ×1.5 (or straight to the
//     smallest ef remembered to pass); interval low > target + Margin (0.02)
//     → ef ×0.9 (at least −1), never to an ef remembered to fail; else hold.
//     Remembered bounds expire after BoundMemory (1 h). Every change is kept
//     in a bounded History. Degraded: interval high < target and ef cannot
//     rise (at EfMax, or auto_ef off); cleared when the point estimate
//     reaches the target.
//   - Drift: see ObserveBatch, ObserveQuery and ObserveResultDistances for
//     the rules; thresholds are the Default* constants of DriftOptions.
//     Findings carry a Severity (info, warning, critical), a Code, a message
//     that says what to do, and the Figures behind them. Each observation
//     returns a Verdict: the findings raised, and the codes whose rule ran
//     and passed (evidence).
//   - MetricCheck: the wrong-metric check (metric_mismatch). The engine runs
//     stored vectors as queries under cosine, l2 and ip and feeds the top-k
//     overlaps and the norms; the rules are on the type.
//   - Ledger: the open findings, with first/last seen, count and the batch
//     that raised them. A finding is resolved only on evidence (Verdict.Clean:
//     two clean batches with 200 vectors for a write finding, one clean window
//     or metric check otherwise) or by Acknowledge, never by time or restart.
//   - State: every stateful piece has AppendState/RestoreState
//     (docs/format/guardrails.md); the engine saves them in its checkpoint
//     and WAL, so that a restart forgets nothing the operator was told.
//
// # Detection rules (defaults)
//
// No batch or query is judged before the history holds MinBaseline (500)
// vectors. Batches with a finding stay out of the history.
//
//   - not_normalized (critical): cosine metric, ≥ 99% of history norms within
//     1 ± 1e-3, and > 1% of the batch's are not.
//   - norm_shift (warning, batches ≥ 20, not reported together with
//     not_normalized): batch mean norm > 1 σ from the history mean (σ floored
//     at 1e-3·mean), and a KS statistic over the log-spaced norm buckets above
//     max(0.2, 1.95·√((n+m)/(nm))).
//   - direction_shift (warning, batches ≥ 20): cosine between the batch's and
//     the history's mean normalized vector < 0.5; only run when the history
//     is concentrated (mean length ≥ 3/√n) and an unchanged batch of this size
//     would be expected at cosine ≥ 0.8.
//   - query_norm_outlier (warning) and query_direction_outlier (info): per
//     window of 200 queries, > 20% of queries 6 σ off the data's norm or
//     projection on its mean direction, or (direction) the window's mean
//     direction at cosine < 0.5 with the data's.
//   - result_distance_high (warning): cosine/ip, per window of 1000 returned
//     distances, > 1% above 1.5.
//   - nearest_distance_shift (warning): any metric, per window of 200
//     unfiltered queries, the mean distance of their nearest result more
//     than 3 σ (of single distances) above the baseline of earlier clean
//     windows (500 queries before any is judged). On the shared sets the
//     1.5 rule above cannot fire in cosine (the farthest any query direction
//     gets from its nearest stored vector is 1.16 on wordnet-use512, 0.81 on
//     glove-twitter-25); this one sees queries from another model.
//
// # Concurrency
//
// Every exported type is safe for concurrent use; each has one mutex, held
// only for in-memory work. No type calls another, so there is no lock order
// between types.
//
// The calls made for every query take no shared mutex: Autopilot.Ef is an
// atomic load; Sampler.Sample declines most queries with an atomic count
// and a hash of it against a gate (only those that pass, about twice the
// sampled share, take its mutex); Drift.ObserveQuery and
// ObserveResultDistances read an atomically published snapshot of the
// baseline and add to one of several striped windows (each with its own
// mutex, picked at random by math/rand/v2's per-thread source: load
// spreading, not a decision), and only the query that closes a window takes
// Drift's mutex. Inside Drift the order is Drift's mutex, then a stripe's.
//
// # Wiring (later sessions)
//
// The engine keeps one Monitor-set per collection: a RecallEstimator, a
// Sampler, an Autopilot and a Drift, all built with the DB's clock and a
// *rand.Rand seeded per collection.
//
//   - Write path: in log order (under the writer lock, and again on WAL
//     replay), Drift.ObserveBatch(raw, metric) with the vectors as given;
//     the Verdict goes to the Ledger with the batch's time and index, which
//     logs a finding once when it opens.
//   - Query path: if the query has no explicit ef, search with
//     Autopilot.Ef(). Call Drift.ObserveQuery(raw q) and
//     Drift.ObserveResultDistances(dists, metric). If Sampler.Sample(), hand
//     (q, k, filter, approx ids) to the collection's background worker. Queries
//     with an explicit ef are not sampled for the autopilot.
//   - Background worker: for each handed query run exact (filtered) search,
//     time it, Sampler.Done(cost), RecallEstimator.Observe(approx, exact, k,
//     filtered, now). Every MinInterval/4 call Sampler.Tick(stored); on true
//     use that stored vector as the query with k+1 and drop itself from both
//     lists. Then Autopilot.Update(est.EstimateSince(ap.Since())); on change
//     publish the new ef (and the planner's thresholds) atomically; log a
//     Degraded transition once at WARN with its reason.
//   - Metrics: sextant_recall_estimate = Estimate().Recall,
//     sextant_recall_target = Target(), sextant_effective_ef = Ef(),
//     sextant_vector_norm = NormHistogram().Buckets(), sextant_result_distance
//     = DistanceHistogram().Buckets(), labelled tenant/database/collection.
//   - Health endpoint and doctor: status degraded when Autopilot.Degraded(),
//     findings = Ledger.Open() (JSON-ready: severity marshals by name);
//     doctor's exit status is the highest Severity (0 ok/info, 1 warning,
//     2 critical). An on-demand measurement re-runs N stored vectors through
//     the same Observe path.
//   - auto_ef off: SetAuto(false) and SetEf(ef, est.Seq, "forced"); Update
//     then only reports health. SetAuto(true) resumes control.
//   - Persistence: compare each piece's Version (Ledger.OpenVersion for the
//     urgent changes) with the one last saved; append the changed pieces'
//     state (RecallEstimator.AppendSamplesSince for the new samples only).
package monitor
