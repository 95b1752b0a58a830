#!/usr/bin/python3
"""peers-jsonl.py - peers.py's CSV rows as the JSON lines compare.py reads.

Usage:
  peers-jsonl.py FILE.csv... > peers.jsonl
  compare.py --baseline hnswlib-native hnswlib.jsonl sextant.jsonl peers.jsonl

../shared/bench/peers.py (Debian's hnswlib and FAISS) writes one CSV row per (peer, build
threads, ef) with --csv. This turns them into the format of ../shared/bench/README.md, so that
compare.py puts the peers in the same table as hnswlib-native and sextant bench, with ratios:

  engine            "hnswlib-debian", "faiss-hnsw" or "faiss-flat" (peers.py's peer name)
  build line        per build thread count: seconds = build_s, bytes_per_vector =
                    index_mb (RSS growth over the build, as hnswlib-native measures) / n
  query lines       from the index built with the most threads: qps = qps_batch1t (all
                    queries in one call, one thread: no Python loop per query), recall, and
                    p50/p99 of the per-query loop when peers.py measured it

Only Python's standard library is used.
"""
import csv
import json
import sys

NAMES = {"hnswlib": "hnswlib-debian"}


def num(row, key):
    try:
        return float(row.get(key) or "")
    except ValueError:
        return None


def convert(rows, out):
    runs = {}  # (peer, n, d) -> {threads: [rows]}
    order = []
    for r in rows:
        key = (r["peer"], r["n"], r["d"])
        if key not in runs:
            runs[key] = {}
            order.append(key)
        runs[key].setdefault(int(r["build_threads"]), []).append(r)
    for key in order:
        peer, n, d = key
        engine = NAMES.get(peer, peer)
        by_threads = runs[key]
        for threads in sorted(by_threads):
            r = by_threads[threads][0]
            secs, mb = num(r, "build_s"), num(r, "index_mb")
            line = {"phase": "build", "engine": engine, "vectors": int(n), "dim": int(d),
                    "seconds": secs, "vectors_per_s": round(int(n) / secs, 1) if secs else None,
                    "threads": threads}
            if mb is not None:
                line["bytes_per_vector"] = round(mb * 1024 * 1024 / int(n), 1)
            out.write(json.dumps(line) + "\n")
        for r in by_threads[max(by_threads)]:
            q = {"phase": "query", "engine": engine, "recall": num(r, "recall"),
                 "qps": num(r, "qps_batch1t"), "threads": 1}
            if r.get("ef"):
                q["ef"] = int(r["ef"])
            for src, dst in (("p50_ms", "p50_us"), ("p99_ms", "p99_us")):
                if num(r, src) is not None:
                    q[dst] = round(num(r, src) * 1000, 2)
            out.write(json.dumps(q) + "\n")


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if argv else 2
    rows = []
    for path in argv:
        with open(path, newline="") as f:
            rows.extend(csv.DictReader(f))
    if not rows:
        sys.stderr.write("peers-jsonl.py: no rows\n")
        return 1
    convert(rows, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
