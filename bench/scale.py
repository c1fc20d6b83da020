"""Vector search at scale: the index `bot index` builds above the flat threshold (HNSW), at 1,000,000 chunks.

    python bench/scale.py --n 1000000
    python bench/scale.py --n 200000 --ef 32,64,128 --queries 300

Vectors are generated (the issue allows it for this part) from real MiniLM chunk vectors in the shared
vector cache: each one is normalise(a + 0.5 b + noise) for two random real vectors a, b and noise of
norm 0.5, so the set keeps the real vectors' geometry without embedding a million texts. Queries are
real questions from the corpora, embedded with the real model. The index is written by the real
`write_vectors` and searched one query at a time through the real `Searcher.dense` (one thread, as
`bot serve` searches), unfiltered and with a kind filter keeping a quarter of the rows. Recall@10 (and
recall@100 at k=100, the candidate depth the bot asks for) is against exact inner-product search over
the same vectors; the search beam is max(efSearch, k). Reports build time, memory, p50/p99.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import SHARED, absolute, machine, percentile, report, rss_mb
from scaleindex import DIM, MODEL


def real_vectors(cache: Path, limit: int) -> np.ndarray:
    path = next(cache.glob(f"vectors-{MODEL}-{DIM}.sqlite"), None)
    if path is None:
        raise SystemExit(f"no vector cache for {MODEL} under {cache}: run `bot index` on a corpus first")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    blobs = [b for (b,) in db.execute("SELECT vec FROM vectors LIMIT ?", (limit,))]
    db.close()
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, DIM)


def generate(base: np.ndarray, n: int, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        a = base[rng.integers(0, len(base), m)]
        b = base[rng.integers(0, len(base), m)]
        noise = rng.standard_normal((m, DIM)).astype(np.float32) * (0.5 / np.sqrt(DIM))
        v = a + 0.5 * b + noise
        out[s : s + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def query_vectors(n: int, cache: Path) -> np.ndarray:
    from bot.embedding import load_embedder

    texts: list[str] = []
    for name in ("beir-scifact", "beir-nfcorpus", "medquad", "pubmedqa"):
        qfile = SHARED / name / "queries.jsonl"
        if qfile.is_file():
            with qfile.open() as fh:
                texts += [json.loads(line)["text"] for line in fh if line.strip()][: n // 4 + 1]
    texts = (texts or ["How is calcinosis cutis treated in dermatomyositis?"]) * (n // max(len(texts), 1) + 1)
    return load_embedder(MODEL, cache_dir=cache).encode(texts[:n])


def searcher_for(path: Path, n: int, kinds: np.ndarray) -> Any:
    """The real Searcher over a vectors-only index (no BM25 or chunk store needed for dense search)."""
    import faiss

    from bot.embedding import HashingEmbedder
    from bot.index import Index
    from bot.search import Searcher

    faiss.omp_set_num_threads(1)  # as load_index sets it for serving
    vectors = faiss.read_index(str(path))
    index = Index(path=path.parent, manifest={"dimension": DIM}, vectors=vectors, lexical=None, db=None,  # type: ignore[arg-type]
                  kinds=kinds, kind_names=["a", "b", "c", "d"], doc_of_row=np.arange(n), doc_ids=[])  # fmt: skip
    return Searcher(index, HashingEmbedder(DIM))  # the embedder is never called: queries come as vectors


def timed(fn: Any, queries: np.ndarray) -> tuple[list[float], list[np.ndarray]]:
    ms, rows = [], []
    for q in queries:
        t = time.perf_counter()
        r = fn(q)
        ms.append((time.perf_counter() - t) * 1000)
        rows.append(r)
    return ms, rows


def sweep(base: np.ndarray, xq: np.ndarray, sizes: list[int]) -> list[dict[str, Any]]:
    """Where exact search stops being cheap: flat against HNSW by size, and, with a kind filter, exact
    search over the allowed rows against the widened graph search (how FILTER_EXACT_ROWS was chosen)."""
    return [sweep_size(base, xq, n) for n in sizes]


def sweep_size(base: np.ndarray, xq: np.ndarray, n: int) -> dict[str, Any]:
    import faiss

    from bot.vectors import write_vectors

    xb = generate(base, n, seed=1)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        path = Path(tmp) / "vectors.faiss"
        t0 = time.perf_counter()
        write_vectors(path, xb, kind="hnsw")
        row: dict[str, Any] = {"n": n, "hnsw_build_s": round(time.perf_counter() - t0, 1)}
        searcher = searcher_for(path, n, (np.arange(n) % 100).astype(np.int16))
        flat = faiss.downcast_index(searcher.index.vectors.storage)
        flat_ms, truth = timed(lambda q: flat.search(q.reshape(1, -1), 10)[1][0], xq)
        hnsw_ms, got = timed(lambda q: searcher.dense(q, 10)[0], xq)
        hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(truth, got, strict=True))
        row["flat_p50_ms"] = round(percentile(flat_ms, 50), 3)
        row["hnsw_p50_ms"] = round(percentile(hnsw_ms, 50), 3)
        row["hnsw_recall@10"] = round(hits / (10 * len(xq)), 4)
        filtered = []
        for share in (25, 5, 1):  # percent of rows a kind filter keeps
            mask = searcher.index.kinds < share
            res: dict[str, Any] = {"rows_kept": int(mask.sum())}
            for how, exact_rows in (("exact", n), ("graph", 0)):
                searcher.exact_rows, searcher.exact_factor = exact_rows, float(exact_rows)
                ms, _ = timed(lambda q, m=mask: searcher.dense(q, 100, m)[0], xq)
                res[f"{how}_p50_ms"] = round(percentile(ms, 50), 3)
            filtered.append(res)
        row["kind_filter_k100"] = filtered
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--ef", default="64,96,128,256", help="efSearch values to try (96 is the default)")
    ap.add_argument("--base", type=int, default=200_000, help="real vectors to generate from (at most)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "bot")
    ap.add_argument("--flat", action="store_true", help="also time exact IndexFlatIP search")
    ap.add_argument("--sweep", default="", help="sizes for a flat-vs-HNSW sweep instead, e.g. 10000,25000,50000,100000")
    ap.add_argument("--out", type=Path, default=None)
    args = absolute(ap.parse_args())
    if args.sweep:
        result = {"benchmark": "scale-sweep", "machine_before": machine()}
        base, xq = real_vectors(args.cache, args.base), query_vectors(args.queries, args.cache)
        result["sizes"] = sweep(base, xq, [int(x) for x in args.sweep.split(",") if x])
        result["machine_after"] = machine()
        report(result, args.out)
        return

    from bot.vectors import write_vectors

    result: dict[str, Any] = {"benchmark": "scale", "machine_before": machine(), "n": args.n}
    base = real_vectors(args.cache, args.base)
    result["real_base_vectors"] = len(base)
    xb = generate(base, args.n)
    xq = query_vectors(args.queries, args.cache)
    kinds = (np.arange(args.n) % 4).astype(np.int16)
    mask = kinds == 0  # a kind filter keeping a quarter of the rows

    import faiss

    t0 = time.perf_counter()
    exact = faiss.IndexFlatIP(DIM)
    exact.add(xb)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    _, truth100 = exact.search(xq, 100)
    truth = truth100[:, :10]
    allowed = np.flatnonzero(mask)
    sub = xb[allowed]
    truth_f: list[np.ndarray] = []
    for s in range(0, len(xq), 50):  # filtered ground truth: exact search among the allowed rows
        scores = sub @ xq[s : s + 50].T
        top = np.argpartition(-scores, 10, axis=0)[:10].T
        truth_f += [allowed[t] for t in top]
    del sub
    result["ground_truth_s"] = round(time.perf_counter() - t0, 1)
    del exact

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        path = Path(tmp) / "vectors.faiss"
        t0 = time.perf_counter()
        info = write_vectors(path, xb, kind="hnsw")
        result["hnsw"] = {**info, "build_s": round(time.perf_counter() - t0, 1),
                          "file_mb": round(path.stat().st_size / 2**20, 1)}  # fmt: skip
        del xb
        searcher = searcher_for(path, args.n, kinds)
        runs = []
        for ef in [int(x) for x in args.ef.split(",") if x]:
            searcher.index.vectors.hnsw.efSearch = ef
            cases = (
                ("all", None, truth, 10),
                ("kind filter 25%", mask, truth_f, 10),
                ("all, k=100", None, truth100, 100),
            )
            for label, m, want, k in cases:
                ms, hits = [], 0
                for qi, q in enumerate(xq):
                    t = time.perf_counter()
                    rows, _ = searcher.dense(q, k, m)
                    ms.append((time.perf_counter() - t) * 1000)
                    hits += len(set(rows.tolist()) & set(np.asarray(want[qi]).tolist()))
                recall = round(hits / (k * len(xq)), 4)
                p50, p99 = round(percentile(ms, 50), 3), round(percentile(ms, 99), 3)
                runs.append({"efSearch": ef, "rows": label, f"recall@{k}": recall, "p50_ms": p50, "p99_ms": p99})
        result["hnsw"]["search"] = runs
        if args.flat:
            flat = faiss.read_index(str(path))
            storage = faiss.downcast_index(flat.storage)
            ms = []
            for q in xq[:50]:
                t = time.perf_counter()
                storage.search(q.reshape(1, -1), 10)
                ms.append((time.perf_counter() - t) * 1000)
            result["flat_exact_p50_ms"] = round(percentile(ms, 50), 2)
    result["process_peak_rss_mb"] = round(rss_mb(os.getpid())["peak_rss_mb"], 1)  # vectors, truth and index
    result["machine_after"] = machine()
    report(result, args.out)


if __name__ == "__main__":
    main()
