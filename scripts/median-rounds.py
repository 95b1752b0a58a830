#!/usr/bin/python3
"""median-rounds.py - one median run from several rounds of benchmark JSON lines.

Usage:
  median-rounds.py FILE... > median.jsonl
  compare.py --baseline hnswlib-native median.jsonl

Reads the JSON lines of hnswlib-native and `sextant bench --json` (../shared/bench/README.md)
from several rounds of the same sweep (`make bench-peers ROUNDS=N` appends every round to the
same files) and writes one build line and one query line per ef for each engine and data set:
the median over the rounds of the build seconds, bytes/vector and vectors/s, and per ef the
median QPS, recall and latencies. compare.py then prints one row per engine from them.

Why: on shared 2-vCPU machines one round moves an engine's QPS by 15-30% (a neighbour's load
comes and goes between the engines' runs), so a single round's ratio says little. The rounds
should alternate which engine runs first; the median of each engine's own figures per ef is
then compared, and interpolated at the target recalls, by compare.py as for one round.

A round is told apart as compare.py does: a build line opens a new run for its engine and data
set (a data set is the build line's (vectors, dim)); query lines belong to the engine's last
build. Only Python's standard library is used.
"""
import json
import statistics
import sys

BUILD_KEYS = ("seconds", "vectors_per_s", "bytes_per_vector")
QUERY_KEYS = ("qps", "recall", "p50_us", "p99_us")


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read(paths):
    """runs[(engine, vectors, dim)] = list of {"builds": {threads: rec}, "points": {ef: rec}}."""
    runs = {}
    order = []
    for path in paths:
        cur = {}  # engine -> its open run
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    rec = json.loads(line)
                except ValueError as e:
                    sys.stderr.write(f"median-rounds.py: {path}:{lineno}: not JSON ({e}); skipped\n")
                    continue
                engine = str(rec.get("engine") or path)
                if rec.get("phase") == "build":
                    key = (engine, rec.get("vectors"), rec.get("dim"))
                    run = cur.get(engine)
                    threads = rec.get("threads")
                    if run is not None and not run["points"] and run["key"] == key and threads not in run["builds"]:
                        run["builds"][threads] = rec  # 1- and 2-thread builds of one run
                        continue
                    run = {"key": key, "builds": {threads: rec}, "points": {}}
                    if key not in runs:
                        runs[key] = []
                        order.append(key)
                    runs[key].append(run)
                    cur[engine] = run
                elif rec.get("phase") == "query":
                    run = cur.get(engine)
                    if run is None or not is_num(rec.get("ef")):
                        sys.stderr.write(f"median-rounds.py: {path}:{lineno}: query line without a build line or ef; skipped\n")
                        continue
                    run["points"][rec["ef"]] = rec
    return runs, order


def median_of(recs, key):
    vals = [r[key] for r in recs if is_num(r.get(key))]
    return statistics.median(vals) if vals else None


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if argv else 2
    runs, order = read(argv)
    if not runs:
        sys.stderr.write("median-rounds.py: no build lines found\n")
        return 1
    out = sys.stdout
    for key in order:
        rounds = runs[key]
        for threads, first in rounds[0]["builds"].items():
            recs = [r["builds"][threads] for r in rounds if threads in r["builds"]]
            build = dict(first)
            for k in BUILD_KEYS:
                build[k] = median_of(recs, k)
            build["rounds"] = len(recs)
            out.write(json.dumps(build) + "\n")
        efs = sorted({ef for r in rounds for ef in r["points"]})
        for ef in efs:
            recs = [r["points"][ef] for r in rounds if ef in r["points"]]
            q = dict(recs[0])
            for k in QUERY_KEYS:
                q[k] = median_of(recs, k)
            q["rounds"] = len(recs)
            out.write(json.dumps(q) + "\n")
        sys.stderr.write(f"median-rounds.py: {key[0]} on {key[1]} x {key[2]}: median of {len(rounds)} rounds\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
