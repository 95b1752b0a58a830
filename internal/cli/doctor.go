package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Doctor severities, least first; the exit status follows the highest.
const (
	sevOK       = "ok"
	sevInfo     = "info"
	sevWarning  = "warning"
	sevCritical = "critical"
)

var sevRank = map[string]int{sevOK: 0, sevInfo: 1, sevWarning: 2, sevCritical: 3}

// Thresholds of the triage.
const (
	doctorTombstoneShare = 0.10     // tombstones awaiting repair above this share: warning
	doctorRepairStall    = 1.0      // seconds: a graph repair pause this long is a warning
	doctorSwapShare      = 0.80     // RSS above this share of MemTotal: swap risk
	doctorWALBytes       = 64 << 20 // the default checkpoint interval (Options.CheckpointBytes)
	doctorUnitShare      = 0.99     // share of unit norms that makes a collection "unit vectors"
	doctorMinNorms       = 100      // norms needed before judging the metric
)

// doctorFinding is one line of the triage. Its JSON form is stable.
type doctorFinding struct {
	Severity   string             `json:"severity"`
	Check      string             `json:"check"`
	Collection string             `json:"collection"` // tenant/database/name; empty for the server
	Message    string             `json:"message"`
	Action     string             `json:"action"`
	Figures    map[string]float64 `json:"figures"`
}

// doctorHint is advice that is not a finding (it does not change the
// status): given once per server and collection, then remembered in the
// state directory.
type doctorHint struct {
	Check      string `json:"check"`
	Collection string `json:"collection"`
	Message    string `json:"message"`
	Action     string `json:"action"`
}

// doctorReport is the --json document.
type doctorReport struct {
	Status   string          `json:"status"` // the highest severity: ok, info, warning or critical; "error" on a usage error
	Error    string          `json:"error,omitempty"`
	Findings []doctorFinding `json:"findings"`
	Hints    []doctorHint    `json:"hints"`
}

// Doctor's exit statuses.
const (
	doctorExitWarning  = 1
	doctorExitCritical = 2
	// doctorExitUsage: the triage did not run (bad flags or arguments); as
	// sysexits' EX_USAGE, distinct from what a triage can answer.
	doctorExitUsage = 64
)

// exitStatus is 0 when healthy (ok/info), 1 on warnings, 2 on critical findings.
func (r *doctorReport) exitStatus() int {
	switch r.Status {
	case sevCritical:
		return doctorExitCritical
	case sevWarning:
		return doctorExitWarning
	}
	return 0
}

type doctorConfig struct {
	url, apiKey        string
	stateDir           string // where shown hints are remembered; "" = none
	allHints           bool
	tenant, database   string
	collection         string
	where, whereDoc    string
	measure            int
	client             *http.Client
	memTotal           func() (int64, error) // MemTotal of this machine; nil: /proc/meminfo
	checkpointInterval int64
}

// doctorExit carries doctor's exit status through Main.
type doctorExit struct{ code int }

func (e *doctorExit) Error() string { return fmt.Sprintf("doctor: exit status %d", e.code) }

// ExitCode is the process exit status Main returns for e.
func (e *doctorExit) ExitCode() int { return e.code }

// doctorUsageError is a doctor invocation that could not run the triage
// (a bad flag, argument or --where): exit status doctorExitUsage, and with
// --json still one JSON document ({"status": "error", "error": ...}).
type doctorUsageError struct{ err error }

func (e *doctorUsageError) Error() string { return e.err.Error() }
func (e *doctorUsageError) Unwrap() error { return e.err }

// report writes the usage error: JSON when args ask for --json, else a line
// on stderr.
func (e *doctorUsageError) report(args []string, stdout, stderr io.Writer) int {
	asJSON := false
	for _, a := range args {
		if a == "--json" || a == "--json=true" {
			asJSON = true
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(doctorReport{Status: "error", Error: e.err.Error(), Findings: []doctorFinding{}, Hints: []doctorHint{}})
	} else {
		fmt.Fprintf(stderr, "sextant doctor: %v (see sextant doctor --help)\n", e.err)
	}
	return doctorExitUsage
}

func newDoctorCmd() *cobra.Command {
	var (
		cfg    doctorConfig
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "doctor --url URL [flags]",
		Short: "Triage a running sextant serve: recall, drift, metric, model pin, index, filter plan, memory, WAL",
		Long: `Doctor runs the 2 am triage against the server at --url over HTTP and prints each
finding with its severity (ok, info, warning, critical) and the action to take:

  normalization   a cosine collection that stopped receiving unit vectors (drift finding)
  model_drift     a batch whose norms or direction depart from the history (a changed model)
  queries         query vectors that do not look like the stored data; high result distances
  metric          the metric check: the collection's metric against the others on stored
                  vectors (metric_mismatch: ip over varying norms, embeddings in l2, ...)
  embedding_model the pinned embedding model (an unpinned collection is a hint, given once)
  index           exact vs HNSW for the collection's size; tombstones awaiting repair (>10%)
  recall          the rolling recall estimate against the target (degraded: critical);
                  --measure N first runs N stored vectors against exact search
  filter          with --where / --where-document: the filter's selectivity and query plan
  memory          the server's RSS (process_resident_memory_bytes) against MemTotal when
                  the server is local (swap risk above 80%)
  wal             WAL bytes not covered by a checkpoint against the checkpoint interval

Findings stay open on the server until evidence resolves them (later batches or queries
within bounds) or an operator acknowledges them: POST
/sextant/v1/tenants/T/databases/D/collections/C/health/acknowledge {"codes": [...]};
a restart resolves nothing. Each finding says when it was first and last seen and, for
a write finding, the batch that raised it.

Hints (advice that is no finding, such as an unpinned embedding model) are given once
per server and collection; --state-dir remembers which (default $XDG_STATE_HOME/sextant
or ~/.local/state/sextant; "" remembers nothing), --all-hints repeats them.

--collection limits the triage to one collection of --tenant/--database (default
default_tenant/default_database); without it every collection is examined (of --tenant and
--database when given). Exit status: 0 healthy (ok/info), 1 warnings, 2 critical findings,
64 a usage error (the triage did not run). --json prints one document, on usage errors too:
{"status", "error", "findings": [{"severity", "check", "collection", "message", "action",
"figures"}], "hints": [{"check", "collection", "message", "action"}]}.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &doctorUsageError{fmt.Errorf("unexpected arguments %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.measure < 0 {
				return &doctorUsageError{errors.New("--measure must be >= 0")}
			}
			rep, err := runDoctor(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printDoctorReport(cmd.OutOrStdout(), rep)
			}
			if code := rep.exitStatus(); code != 0 {
				return &doctorExit{code}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &doctorUsageError{err} })
	f := cmd.Flags()
	f.StringVar(&cfg.url, "url", "http://127.0.0.1:8000", "server URL")
	f.StringVar(&cfg.apiKey, "api-key", os.Getenv("SEXTANT_API_KEY"), "API key (default $SEXTANT_API_KEY)")
	f.StringVar(&cfg.collection, "collection", "", "collection name (default: every collection)")
	f.StringVar(&cfg.tenant, "tenant", "", "tenant (default_tenant with --collection; else every tenant)")
	f.StringVar(&cfg.database, "database", "", "database (default_database with --collection; else every database)")
	f.StringVar(&cfg.where, "where", "", `metadata filter (JSON) whose selectivity and plan to explain, e.g. '{"lang": "en"}'`)
	f.StringVar(&cfg.whereDoc, "where-document", "", "document filter (JSON) to explain with --where")
	f.IntVar(&cfg.measure, "measure", 0, "run an on-demand recall measurement of N stored vectors first")
	f.Int64Var(&cfg.checkpointInterval, "checkpoint-bytes", doctorWALBytes, "the server's checkpoint interval in WAL bytes")
	f.StringVar(&cfg.stateDir, "state-dir", defaultStateDir(), "where doctor remembers the hints it gave")
	f.BoolVar(&cfg.allHints, "all-hints", false, "give every hint, also those given before")
	f.BoolVar(&asJSON, "json", false, "print one JSON document")
	return cmd
}

// defaultStateDir is $XDG_STATE_HOME/sextant, else ~/.local/state/sextant,
// else "" (nothing remembered).
func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "sextant")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "sextant")
	}
	return ""
}

// Health documents of the admin API (internal/api/admin), as doctor reads them.
type (
	docInterval struct {
		Estimate *float64 `json:"estimate"`
		Low      float64  `json:"low"`
		High     float64  `json:"high"`
		Samples  int      `json:"samples"`
	}
	docBatch struct {
		Index   uint64    `json:"index"`
		At      time.Time `json:"at"`
		Vectors int       `json:"vectors"`
		FirstID string    `json:"first_id"`
		LastID  string    `json:"last_id"`
	}
	docFinding struct {
		Severity  string             `json:"severity"`
		Code      string             `json:"code"`
		Message   string             `json:"message"`
		Figures   map[string]float64 `json:"figures"`
		FirstSeen time.Time          `json:"first_seen"`
		LastSeen  time.Time          `json:"last_seen"`
		Count     int                `json:"count"`
		Batch     *docBatch          `json:"batch"`
	}
	docMetricCheck struct {
		Samples int `json:"samples"`
		K       int `json:"k"`
		Overlap struct {
			Cosine *float64 `json:"cosine"`
			L2     *float64 `json:"l2"`
			IP     *float64 `json:"ip"`
		} `json:"overlap"`
		NormCV        float64 `json:"norm_cv"`
		NegativeShare float64 `json:"negative_share"`
		Verdict       string  `json:"verdict"`
	}
	docHealth struct {
		ID          string         `json:"id"`
		MetricCheck docMetricCheck `json:"metric_check"`
		Tenant      string         `json:"tenant"`
		Database    string         `json:"database"`
		Collection  string         `json:"collection"`
		Status      string         `json:"status"`
		Reason      string         `json:"reason"`
		Recall      docInterval    `json:"recall"`
		Target      float64        `json:"target"`
		EffectiveEf int            `json:"effective_ef"`
		AutoEf      bool           `json:"auto_ef"`
		Findings    []docFinding   `json:"findings"`
		Index       struct {
			Mode                   string  `json:"mode"`
			Live                   int     `json:"live"`
			Tombstones             int     `json:"tombstones"`
			Unindexed              int     `json:"unindexed"`
			Repairs                int64   `json:"repairs"`
			LastRepairSeconds      float64 `json:"last_repair_seconds"`
			LastRepairPauseSeconds float64 `json:"last_repair_pause_seconds"`
		} `json:"index"`
		WALBytes    int64 `json:"wal_bytes"`
		Checkpoints int64 `json:"checkpoints"`
		Memory      struct {
			Vectors int64 `json:"vectors"`
			Graph   int64 `json:"graph"`
			Index   int64 `json:"index"`
		} `json:"memory"`
		Config struct {
			Metric         string `json:"metric"`
			EmbeddingModel *struct {
				Pin       string `json:"pin"`
				Dimension int    `json:"dimension"`
			} `json:"embedding_model"`
			ExactThreshold int `json:"exact_threshold"`
		} `json:"config"`
		Norms struct {
			Count     uint64  `json:"count"`
			Mean      float64 `json:"mean"`
			UnitShare float64 `json:"unit_share"`
		} `json:"norms"`
	}
	docPlan struct {
		Kind                 string  `json:"kind"`
		Ef                   int     `json:"ef"`
		Matches              int     `json:"matches"`
		Live                 int     `json:"live"`
		Selectivity          float64 `json:"selectivity"`
		DistanceComputations int     `json:"distance_computations"`
		Fallback             bool    `json:"fallback"`
		Filter               string  `json:"filter"`
		Seconds              float64 `json:"seconds"`
	}
)

// runDoctor runs the triage and returns its report. It fails only on
// invalid arguments; an unreachable server is a critical finding.
func runDoctor(ctx context.Context, cfg doctorConfig) (*doctorReport, error) {
	var where, whereDoc map[string]any
	for _, a := range []struct {
		flag, v string
		dst     *map[string]any
	}{{"--where", cfg.where, &where}, {"--where-document", cfg.whereDoc, &whereDoc}} {
		if a.v == "" {
			continue
		}
		if err := json.Unmarshal([]byte(a.v), a.dst); err != nil {
			return nil, &doctorUsageError{fmt.Errorf("%s: not a JSON object: %w", a.flag, err)}
		}
	}
	if cfg.client == nil {
		cfg.client = &http.Client{Timeout: 5 * time.Minute}
	}
	if cfg.checkpointInterval <= 0 {
		cfg.checkpointInterval = doctorWALBytes
	}
	hc := &chromaHTTP{url: strings.TrimRight(cfg.url, "/"), token: cfg.apiKey, client: cfg.client}
	rep := &doctorReport{Status: sevOK, Findings: []doctorFinding{}, Hints: []doctorHint{}}
	var hints hintSet
	add := func(f doctorFinding) {
		if f.Figures == nil {
			f.Figures = map[string]float64{}
		}
		rep.Findings = append(rep.Findings, f)
		if sevRank[f.Severity] > sevRank[rep.Status] {
			rep.Status = f.Severity
		}
	}

	// The collections to examine.
	type target struct{ tenant, database, name string }
	var targets []target
	if cfg.collection != "" {
		t := target{cfg.tenant, cfg.database, cfg.collection}
		if t.tenant == "" {
			t.tenant = "default_tenant"
		}
		if t.database == "" {
			t.database = "default_database"
		}
		targets = append(targets, t)
	} else {
		var ov struct {
			Collections []struct {
				Tenant     string `json:"tenant"`
				Database   string `json:"database"`
				Collection string `json:"collection"`
			} `json:"collections"`
		}
		if err := hc.call(ctx, "GET", "/sextant/v1/health", nil, &ov); err != nil {
			add(doctorFinding{Severity: sevCritical, Check: "server", Message: "cannot read the server's health: " + err.Error(),
				Action: "check that sextant serve runs at --url and that --api-key is valid"})
			return rep, nil
		}
		for _, c := range ov.Collections {
			if (cfg.tenant == "" || cfg.tenant == c.Tenant) && (cfg.database == "" || cfg.database == c.Database) {
				targets = append(targets, target{c.Tenant, c.Database, c.Collection})
			}
		}
		if len(targets) == 0 {
			add(doctorFinding{Severity: sevInfo, Check: "collections", Message: "no collections to examine",
				Action: "nothing to do; check --tenant/--database"})
		}
	}

	var collMem int64
	for _, t := range targets {
		name := t.tenant + "/" + t.database + "/" + t.name
		path := "/sextant/v1/tenants/" + url.PathEscape(t.tenant) + "/databases/" + url.PathEscape(t.database) +
			"/collections/" + url.PathEscape(t.name)
		var h docHealth
		var err error
		if cfg.measure > 0 {
			err = hc.call(ctx, "POST", path+"/health/measure", map[string]int{"n": cfg.measure}, &h)
		} else {
			err = hc.call(ctx, "GET", path+"/health", nil, &h)
		}
		if err != nil {
			add(doctorFinding{Severity: sevCritical, Check: "server", Collection: name,
				Message: "cannot read the collection's health: " + err.Error(),
				Action:  "check the collection name, that the server runs at --url, and --api-key"})
			continue
		}
		collMem += h.Memory.Vectors + h.Memory.Graph + h.Memory.Index
		for _, f := range collectionFindings(h, cfg.checkpointInterval) {
			f.Collection = name
			add(f)
		}
		if h.Config.EmbeddingModel == nil {
			hints.offer(cfg, doctorHint{Check: "embedding_model", Collection: name,
				Message: "no embedding model pinned: a client on another model (or model version) would write and query unnoticed",
				Action: `pin it: collection metadata {"embedding_model": "NAME[@VERSION]"} at creation, or PUT ` + path +
					`/embedding_model {"pin": "NAME@VERSION"}; then send the header x-sextant-embedding-model: NAME@VERSION`},
				h.ID)
		}
		if where != nil || whereDoc != nil {
			var p docPlan
			body := map[string]any{"n_results": 10}
			if where != nil {
				body["where"] = where
			}
			if whereDoc != nil {
				body["where_document"] = whereDoc
			}
			if err := hc.call(ctx, "POST", path+"/explain", body, &p); err != nil {
				var he *httpError
				if errors.As(err, &he) && he.Status == http.StatusBadRequest {
					// The filter itself is wrong: the triage asked for
					// cannot be run.
					return nil, &doctorUsageError{fmt.Errorf("--where / --where-document: %w", err)}
				}
				add(doctorFinding{Severity: sevWarning, Check: "filter", Collection: name,
					Message: "explain failed: " + err.Error(), Action: "check the --where / --where-document JSON"})
			} else {
				f := filterFinding(p)
				f.Collection = name
				add(f)
			}
		}
	}
	add(memoryFinding(ctx, hc, cfg, collMem))
	rep.Hints = hints.give(cfg)
	return rep, nil
}

// hintSet collects the hints of one run and remembers, in
// <state-dir>/doctor-hints.json, which were given for which server and
// collection, so that each is given once.
type hintSet struct {
	offered []doctorHint
	keys    []string
}

func (s *hintSet) offer(cfg doctorConfig, h doctorHint, collectionID string) {
	s.offered = append(s.offered, h)
	s.keys = append(s.keys, strings.TrimRight(cfg.url, "/")+" "+collectionID+" "+h.Check)
}

// give returns the hints not given before (all with --all-hints) and
// records them. A state directory that cannot be read or written gives
// every hint and remembers nothing.
func (s *hintSet) give(cfg doctorConfig) []doctorHint {
	out := []doctorHint{}
	seen := map[string]string{}
	file := ""
	if cfg.stateDir != "" {
		file = filepath.Join(cfg.stateDir, "doctor-hints.json")
		if b, err := os.ReadFile(file); err == nil {
			_ = json.Unmarshal(b, &seen)
		}
	}
	changed := false
	for i, h := range s.offered {
		if _, given := seen[s.keys[i]]; given && !cfg.allHints {
			continue
		}
		out = append(out, h)
		if _, given := seen[s.keys[i]]; !given {
			seen[s.keys[i]] = time.Now().UTC().Format(time.RFC3339)
			changed = true
		}
	}
	if file != "" && changed {
		if b, err := json.MarshalIndent(seen, "", "  "); err == nil && os.MkdirAll(cfg.stateDir, 0o755) == nil {
			_ = os.WriteFile(file, b, 0o644)
		}
	}
	return out
}

// driftActions are the actions for the monitor's finding codes.
var driftActions = map[string]struct{ check, action string }{
	"not_normalized": {"normalization",
		"a producer stopped sending unit vectors: find the batch job (see the figures), fix its normalization, and re-embed or delete what it wrote"},
	"norm_shift": {"model_drift",
		"the norms of a batch depart from the history: check the embedding model and version of the producer; re-embed with the pinned model"},
	"direction_shift": {"model_drift",
		"a batch points elsewhere than the history (a changed embedding model?): compare the producer's model with the pinned one and re-embed"},
	"query_norm_outlier": {"queries",
		"queries do not look like the stored data: check the query path's embedding model and normalization"},
	"query_direction_outlier": {"queries",
		"queries point elsewhere than the stored data: check the query path's embedding model"},
	"result_distance_high": {"queries",
		"returned distances are unusually high: queries and data likely come from different models"},
	"nearest_distance_shift": {"queries",
		"queries find their nearest results much farther than before: the query path's embedding model (or its normalization) differs from the data's"},
	"metric_mismatch": {"metric",
		"re-create the collection with the metric the message names and re-insert; if this metric is deliberate, acknowledge: POST .../health/acknowledge {\"codes\": [\"metric_mismatch\"]}"},
}

// seenText says when a finding was first and last seen and, for a write
// finding, which batch raised it.
func seenText(f docFinding) string {
	if f.FirstSeen.IsZero() {
		return ""
	}
	s := fmt.Sprintf(" [first seen %s", f.FirstSeen.UTC().Format(time.RFC3339))
	if f.Count > 1 {
		s += fmt.Sprintf(", last seen %s, %d times", f.LastSeen.UTC().Format(time.RFC3339), f.Count)
	}
	if b := f.Batch; b != nil {
		s += fmt.Sprintf("; raised by write batch %d: %d vectors, ids %q..%q", b.Index, b.Vectors, b.FirstID, b.LastID)
	}
	return s + "]"
}

// collectionFindings judges one collection's health document.
func collectionFindings(h docHealth, ckptInterval int64) []doctorFinding {
	var out []doctorFinding
	codes := map[string]bool{}
	for _, f := range h.Findings {
		codes[f.Code] = true
		da, ok := driftActions[f.Code]
		if !ok {
			da.check, da.action = "drift", "see the message"
		}
		sev := f.Severity
		if _, ok := sevRank[sev]; !ok {
			sev = sevWarning
		}
		out = append(out, doctorFinding{Severity: sev, Check: da.check, Message: f.Code + ": " + f.Message + seenText(f),
			Action: da.action, Figures: f.Figures})
	}
	if !codes["not_normalized"] && !codes["norm_shift"] && !codes["direction_shift"] {
		out = append(out, doctorFinding{Severity: sevOK, Check: "drift", Message: "no write drift findings",
			Figures: map[string]float64{"findings": float64(len(h.Findings))}})
	}

	// The metric: the metric check's verdict (a mismatch is a finding
	// above), then what the written norms say.
	mc := h.MetricCheck
	nf := map[string]float64{"norms": float64(h.Norms.Count), "unit_share": h.Norms.UnitShare, "mean_norm": h.Norms.Mean,
		"metric_check_samples": float64(mc.Samples), "norm_cv": mc.NormCV, "negative_share": mc.NegativeShare}
	var overlaps []string
	for _, o := range []struct {
		name string
		v    *float64
	}{{"cosine", mc.Overlap.Cosine}, {"l2", mc.Overlap.L2}, {"ip", mc.Overlap.IP}} {
		if o.v != nil {
			nf["overlap_"+o.name] = *o.v
			overlaps = append(overlaps, fmt.Sprintf("%s %.2f", o.name, *o.v))
		}
	}
	metric := h.Config.Metric
	switch {
	case codes["metric_mismatch"]:
	case metric == "cosine" && h.Norms.Count >= doctorMinNorms && h.Norms.UnitShare < doctorUnitShare && !codes["not_normalized"]:
		out = append(out, doctorFinding{Severity: sevInfo, Check: "metric",
			Message: fmt.Sprintf("cosine collection fed non-unit vectors (%.1f%% unit norms, mean norm %.3g); Sextant normalizes them on write", 100*h.Norms.UnitShare, h.Norms.Mean),
			Action:  "fine if the producer never normalizes; if it is meant to send unit vectors, check it", Figures: nf})
	case mc.Verdict == "ok" || mc.Verdict == "":
		msg := fmt.Sprintf("%s metric consistent with the data", metric)
		if mc.Samples > 0 {
			msg += fmt.Sprintf(" (metric check over %d stored vectors: top-%d overlap %s; norm CV %.3g)", mc.Samples, mc.K, strings.Join(overlaps, ", "), mc.NormCV)
		}
		out = append(out, doctorFinding{Severity: sevOK, Check: "metric", Message: msg, Figures: nf})
	default:
		out = append(out, doctorFinding{Severity: sevOK, Check: "metric",
			Message: fmt.Sprintf("%s; metric check %s (%d stored vectors so far)", metric, mc.Verdict, mc.Samples), Figures: nf})
	}

	// Embedding model pinning (an unpinned collection is a hint: modelHint).
	if em := h.Config.EmbeddingModel; em != nil {
		out = append(out, doctorFinding{Severity: sevOK, Check: "embedding_model",
			Message: fmt.Sprintf("embedding model pinned: %s (dimension %d); requests declaring another model are refused", em.Pin, em.Dimension)})
	}

	// Index status.
	ix := h.Index
	fig := map[string]float64{"live": float64(ix.Live), "tombstones": float64(ix.Tombstones), "exact_threshold": float64(h.Config.ExactThreshold)}
	tshare := 0.0
	if ix.Live+ix.Tombstones > 0 {
		tshare = float64(ix.Tombstones) / float64(ix.Live+ix.Tombstones)
	}
	fig["tombstone_share"] = tshare
	switch {
	case ix.Mode == "building":
		fig["unindexed"] = float64(ix.Unindexed)
		out = append(out, doctorFinding{Severity: sevInfo, Check: "index", Message: fmt.Sprintf("HNSW index building over %d records (%d not yet in the graph); queries are exact meanwhile", ix.Live, ix.Unindexed),
			Action: "wait for the build (sextant_collection_index_building returns to 0)", Figures: fig})
	case ix.Mode == "hnsw" && tshare > doctorTombstoneShare:
		out = append(out, doctorFinding{Severity: sevWarning, Check: "index",
			Message: fmt.Sprintf("%.0f%% of the graph's nodes are tombstones awaiting repair (%d of %d)", 100*tshare, ix.Tombstones, ix.Live+ix.Tombstones),
			Action:  "deletes outpace repair: slow the deletes, or rebuild the index (re-create the collection) if recall suffers", Figures: fig})
	case ix.Mode == "exact" && h.Config.ExactThreshold > 0 && ix.Live >= h.Config.ExactThreshold:
		out = append(out, doctorFinding{Severity: sevWarning, Check: "index",
			Message: fmt.Sprintf("exact search over %d records, above the exact threshold %d, and no HNSW index", ix.Live, h.Config.ExactThreshold),
			Action:  "check the server log for a failed index build; restart the server to rebuild", Figures: fig})
	case ix.Mode == "exact":
		out = append(out, doctorFinding{Severity: sevOK, Check: "index", Message: fmt.Sprintf("exact search over %d records (below the HNSW threshold): recall is 1", ix.Live), Figures: fig})
	default:
		out = append(out, doctorFinding{Severity: sevOK, Check: "index", Message: fmt.Sprintf("HNSW over %d records, %d tombstones", ix.Live, ix.Tombstones), Figures: fig})
	}

	// Graph repair: queries wait for its exclusive pass (the pause).
	if ix.Repairs > 0 {
		gf := map[string]float64{"repairs": float64(ix.Repairs), "last_repair_seconds": ix.LastRepairSeconds,
			"last_repair_pause_seconds": ix.LastRepairPauseSeconds}
		if ix.LastRepairPauseSeconds >= doctorRepairStall {
			out = append(out, doctorFinding{Severity: sevWarning, Check: "repair",
				Message: fmt.Sprintf("the last graph repair held the collection's queries for %.1f s (repair %.1f s in all; %d repairs since the server started)",
					ix.LastRepairPauseSeconds, ix.LastRepairSeconds, ix.Repairs),
				Action: "repair runs on the first insert after tombstones reach 5% of the live records, and its pause grows with the collection: " +
					"schedule bulk deletes (and the next insert) off-peak; the next pause comes after as many deletes again", Figures: gf})
		} else {
			out = append(out, doctorFinding{Severity: sevOK, Check: "repair",
				Message: fmt.Sprintf("last graph repair took %.0f ms, of which queries waited %.0f ms (%d since the server started)",
					1000*ix.LastRepairSeconds, 1000*ix.LastRepairPauseSeconds, ix.Repairs), Figures: gf})
		}
	}

	// Recall now vs target.
	rf := map[string]float64{"target": h.Target, "samples": float64(h.Recall.Samples), "low": h.Recall.Low,
		"high": h.Recall.High, "effective_ef": float64(h.EffectiveEf)}
	if h.Recall.Estimate != nil {
		rf["estimate"] = *h.Recall.Estimate
	}
	switch {
	case h.Status == "degraded":
		act := "turn auto_ef back on (PUT .../auto_ef {\"on\": true}) or raise ef_search"
		if h.AutoEf {
			act = "the autopilot is at its ef bound: raise ef_search bounds, rebuild with a larger M / ef_construction, or lower the target"
		}
		out = append(out, doctorFinding{Severity: sevCritical, Check: "recall",
			Message: fmt.Sprintf("degraded: recall %s below target %.2f at ef %d (%s)", fmtEstimate(h.Recall), h.Target, h.EffectiveEf, h.Reason),
			Action:  act, Figures: rf})
	case h.Recall.Samples == 0 && ix.Mode == "hnsw":
		out = append(out, doctorFinding{Severity: sevInfo, Check: "recall", Message: "no recall samples yet",
			Action: "run sextant doctor --measure 200 for an on-demand measurement", Figures: rf})
	case h.Recall.Estimate != nil && *h.Recall.Estimate < h.Target:
		act := "the autopilot is raising ef; re-check in a few minutes"
		if !h.AutoEf {
			act = "auto_ef is off: turn it on (PUT .../auto_ef {\"on\": true}) or raise ef_search"
		}
		out = append(out, doctorFinding{Severity: sevWarning, Check: "recall",
			Message: fmt.Sprintf("recall %s below target %.2f at ef %d", fmtEstimate(h.Recall), h.Target, h.EffectiveEf),
			Action:  act, Figures: rf})
	default:
		out = append(out, doctorFinding{Severity: sevOK, Check: "recall",
			Message: fmt.Sprintf("recall %s, target %.2f, ef %d (auto_ef %v)", fmtEstimate(h.Recall), h.Target, h.EffectiveEf, h.AutoEf), Figures: rf})
	}

	// WAL and checkpoint lag.
	wf := map[string]float64{"wal_bytes": float64(h.WALBytes), "checkpoint_interval": float64(ckptInterval), "checkpoints": float64(h.Checkpoints)}
	if h.WALBytes > ckptInterval {
		out = append(out, doctorFinding{Severity: sevInfo, Check: "wal",
			Message: fmt.Sprintf("%s of WAL not covered by a checkpoint, above the checkpoint interval %s", mib(h.WALBytes), mib(ckptInterval)),
			Action:  "checkpoints are lagging the writes: recovery after a crash will replay this much; check disk speed and the server log", Figures: wf})
	} else {
		out = append(out, doctorFinding{Severity: sevOK, Check: "wal", Message: fmt.Sprintf("%s of WAL since the last checkpoint", mib(h.WALBytes)), Figures: wf})
	}
	return out
}

func fmtEstimate(iv docInterval) string {
	if iv.Estimate == nil {
		return "unknown (no samples)"
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f] over %d samples", *iv.Estimate, iv.Low, iv.High, iv.Samples)
}

// filterFinding reports the selectivity and plan of the --where filter.
func filterFinding(p docPlan) doctorFinding {
	f := doctorFinding{Severity: sevInfo, Check: "filter",
		Message: fmt.Sprintf("filter %s matches %d of %d records (selectivity %.4g); plan %s, ef %d, %d distance computations, %.1f ms",
			p.Filter, p.Matches, p.Live, p.Selectivity, p.Kind, p.Ef, p.DistanceComputations, 1000*p.Seconds),
		Action: "none",
		Figures: map[string]float64{"matches": float64(p.Matches), "live": float64(p.Live), "selectivity": p.Selectivity,
			"distance_computations": float64(p.DistanceComputations), "seconds": p.Seconds},
	}
	switch {
	case p.Matches == 0:
		f.Severity, f.Action = sevWarning, "the filter matches nothing: check the keys and value types"
	case p.Fallback:
		f.Action = "the graph traversal found too few matches and exact search over the matches took over; fine for selective filters, costly for broad ones"
	}
	return f
}

// memoryFinding compares the server's RSS with the machine's memory when
// the server is local.
func memoryFinding(ctx context.Context, hc *chromaHTTP, cfg doctorConfig, collMem int64) doctorFinding {
	f := doctorFinding{Severity: sevOK, Check: "memory", Figures: map[string]float64{"collections_bytes": float64(collMem)}}
	rss, err := metricsRSS(ctx, hc)
	if err != nil {
		f.Severity, f.Message = sevInfo, "server RSS unknown: "+err.Error()
		f.Action = "check that /metrics is reachable with --api-key"
		return f
	}
	f.Figures["rss_bytes"] = float64(rss)
	if !isLocalURL(hc.url) {
		f.Severity = sevInfo
		f.Message = fmt.Sprintf("server RSS %s (collections %s); machine memory unknown: the server is not local", mib(rss), mib(collMem))
		f.Action = "run doctor on the server's machine to compare with its memory"
		return f
	}
	memTotal := cfg.memTotal
	if memTotal == nil {
		memTotal = procMemTotal
	}
	total, err := memTotal()
	if err != nil || total <= 0 {
		f.Severity, f.Message = sevInfo, fmt.Sprintf("server RSS %s; MemTotal unknown", mib(rss))
		f.Action = "compare with the machine's memory by hand"
		return f
	}
	share := float64(rss) / float64(total)
	f.Figures["mem_total_bytes"], f.Figures["share"] = float64(total), share
	f.Message = fmt.Sprintf("server RSS %s of %s (%.0f%%); collections hold %s", mib(rss), mib(total), 100*share, mib(collMem))
	if share > doctorSwapShare {
		f.Severity = sevWarning
		f.Action = "swap risk: the server uses over 80% of the machine's memory; add memory, move collections, or lower M"
	}
	return f
}

func isLocalURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// procMemTotal reads MemTotal from /proc/meminfo.
func procMemTotal() (int64, error) {
	fh, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fields := strings.Fields(v)
			if len(fields) == 0 {
				break
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}

func printDoctorReport(w io.Writer, rep *doctorReport) {
	fs := slices.Clone(rep.Findings)
	slices.SortStableFunc(fs, func(a, b doctorFinding) int { return sevRank[b.Severity] - sevRank[a.Severity] })
	for _, f := range fs {
		where := f.Collection
		if where == "" {
			where = "server"
		}
		fmt.Fprintf(w, "%-8s  %-15s  %s: %s\n", strings.ToUpper(f.Severity), f.Check, where, f.Message)
		if f.Action != "" && f.Action != "none" && f.Severity != sevOK {
			fmt.Fprintf(w, "          -> %s\n", f.Action)
		}
	}
	for _, h := range rep.Hints {
		fmt.Fprintf(w, "%-8s  %-15s  %s: %s\n", "HINT", h.Check, h.Collection, h.Message)
		fmt.Fprintf(w, "          -> %s (given once; --all-hints repeats it)\n", h.Action)
	}
	fmt.Fprintf(w, "status: %s\n", rep.Status)
}
