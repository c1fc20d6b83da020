"""Incremental rebuild: `bot index` after one document of a large corpus changed (MedQuAD: 16,423 docs).

    python bench/incremental.py                       # MedQuAD, vectors from ~/.cache/bot when there
    python bench/incremental.py --corpus X.jsonl --work /tmp/inc
    python bench/incremental.py --hnsw-chunks 100000  # an HNSW index: graph patched vs rebuilt in full

Runs `bot index` as a user would (a child process: interpreter start, imports and all): a first full
build (its vectors come from the vector cache when earlier runs embedded the corpus), a second run with
nothing changed, then edits one document's text (appends a sentence) and runs it again. Reports wall
time, what was embedded and reused, and the peak RSS of each run.

With --hnsw-chunks N: an index of N chunks (HNSW) built in this process by the real `build_index` from
the shared corpora, as bench/scaleindex.py builds it (real chunks, copies of real documents past the
corpora's size; vectors from the shared cache, or generated near a cached one for texts not in it). Then
rounds of one-document changes, each rebuilt twice in turn: "full graph" (patching switched off, the HNSW
graph built afresh from all N vectors: what every build did before) and "patched" (the previous graph with
only the changed document's rows removed and added). Reports each build's time, the time spent reading the
previous build (the vector index is read while the current build is verified: `verify_current_s`), writing
the vector index, reading the previous chunk store, building and writing the two BM25 indexes, writing the
chunk store, checking the documents and waiting for the new files' checksums, and the recall@10 of the
patched graph and of a graph built from scratch over the same vectors, both against exact search.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import BOT, SHARED, absolute, machine, read_beir, report, run_child, write_jsonl

ADDED = " This sentence was added by the incremental rebuild benchmark."


def index_run(corpus: Path, index: Path, cache: Path | None, label: str) -> dict[str, Any]:
    env = {"BOT_CACHE_DIR": str(cache) if cache else "off", "HF_HUB_OFFLINE": "1"}
    child = run_child([*BOT, "-q", "index", "--corpus", str(corpus), "--index", str(index), "--json",
                       "--no-progress"], env=env)  # fmt: skip
    if child.returncode != 0:
        raise SystemExit(f"bot index failed ({label}):\n{child.stderr[-3000:]}")
    stats = child.json()
    keys = ("documents", "chunks", "added", "changed", "removed", "chunks_embedded", "chunks_reused", "up_to_date")
    return {"run": label, "wall_s": round(child.seconds, 2), "build_s": round(stats["seconds"], 2),
            **{k: stats[k] for k in keys}, "peak_rss_mb": round(child.peak_rss_mb, 1),
            "peak_rss_mb_per_10k_chunks": round(child.peak_rss_mb * 1e4 / max(stats["chunks"], 1), 1)}  # fmt: skip


def hnsw_rounds(target: int, cache: Path | None, work: Path, repeat: int, queries: int) -> dict[str, Any]:
    import faiss
    import numpy as np
    from scaleindex import MODEL, CachedEmbedder, default_corpora, scale_documents

    import bot.build as build_mod
    import bot.vectors as index_mod
    from bot.build import build_index
    from bot.index import load_index, resolve_build

    corpora = default_corpora(SHARED)
    index = work / "index"
    shutil.rmtree(index, ignore_errors=True)
    docs, real_chunks = scale_documents(corpora, target)
    embedder = CachedEmbedder(cache, generate=True)
    common = {"model": MODEL, "chunk_size": 800, "chunk_overlap": 1, "progress": False, "vector_index": "hnsw"}
    built = build_index(docs, index, embedder, **common)  # type: ignore[arg-type]
    first = {"documents": len(docs), "copied_documents": sum(1 for d in docs if "~copy" in d.id),
             "chunks": built.chunks, "real_chunks_before_copies": real_chunks, "vectors": dict(embedder.counts),
             "build_s": round(built.seconds, 1)}  # fmt: skip
    timings: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - t

        return wrapper

    build_mod.read_previous = timed("read_previous_s", build_mod.read_previous)  # type: ignore[attr-defined]
    build_mod.update_vectors = timed("write_vectors_s", build_mod.update_vectors)  # type: ignore[attr-defined]
    build_mod.damaged = timed("verify_current_s", build_mod.damaged)  # type: ignore[attr-defined]
    build_mod._reusable = timed("read_chunk_store_s", build_mod._reusable)  # type: ignore[attr-defined]
    build_mod.write_chunk_store = timed("write_chunk_store_s", build_mod.write_chunk_store)  # type: ignore[attr-defined]
    build_mod._lexical = timed("bm25_s", build_mod._lexical)  # type: ignore[attr-defined]
    build_mod._save_lexical = timed("bm25_write_s", build_mod._save_lexical)  # type: ignore[attr-defined]
    build_mod.indexable = timed("check_documents_s", build_mod.indexable)  # type: ignore[attr-defined]
    # waiting for the new files' checksums (hashed and flushed in the background as each is written)
    sealer = build_mod.Sealer  # type: ignore[attr-defined]
    sealer.digests = timed("checksums_wait_s", sealer.digests)  # type: ignore[method-assign]
    share = index_mod.HNSW_PATCH_SHARE
    runs = []
    for k in range(repeat):
        for mode in ("full graph", "patched"):
            i = len(docs) * (2 * k + (mode == "patched") + 1) // (2 * repeat + 1)
            docs[i] = replace(docs[i], text=docs[i].text + ADDED.rstrip(".") + f" (run {time.time_ns()}).")
            index_mod.HNSW_PATCH_SHARE = share if mode == "patched" else 0.0
            timings.clear()
            load = os.getloadavg()[0]
            stats = build_index(docs, index, embedder, **common)  # type: ignore[arg-type]
            row = {"run": mode, "doc": docs[i].id, "build_s": round(stats.seconds, 2)}
            row.update({name: round(v, 2) for name, v in timings.items()})
            row.update(vectors_written=stats.vectors_written, rows_removed=stats.rows_removed,
                       rows_added=stats.rows_added, chunks_embedded=stats.chunks_embedded, chunks=stats.chunks,
                       load_1m=round(load, 2))  # fmt: skip
            runs.append(row)
            print(json.dumps(runs[-1]), flush=True)
    index_mod.HNSW_PATCH_SHARE = share
    # the last build is patched: its graph against exact search and against a graph built afresh
    patched = load_index(index, verify=False)
    xb = patched.vectors.reconstruct_n(0, patched.size)
    patched.close()
    rng = np.random.default_rng(0)
    xq = xb[rng.choice(len(xb), queries, replace=False)] + rng.normal(0, 0.03, (queries, xb.shape[1])).astype("f4")
    xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(xb.shape[1])
    exact.add(xb)
    _, truth = exact.search(xq, 10)
    scratch = work / "scratch.faiss"
    t = time.perf_counter()
    index_mod.write_vectors(scratch, xb, kind="hnsw")
    scratch_s = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    recall = {}
    for name, path in (("patched", resolve_build(index) / "vectors.faiss"), ("from scratch", scratch)):  # type: ignore[operator]
        graph = faiss.read_index(str(path))
        _, got = graph.search(xq, 10)
        recall[name] = round(
            sum(len(set(a) & set(b)) for a, b in zip(truth.tolist(), got.tolist(), strict=True)) / truth.size, 4
        )
    return {"index": first, "runs": runs, "recall@10": recall, "queries": queries,
            "graph_from_scratch_s": round(scratch_s, 1)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SHARED / "medquad" / "corpus.jsonl")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "bot")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="edit-and-rebuild rounds (a different document each)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--hnsw-chunks", type=int, default=0, help="instead: an HNSW index of this many chunks")
    ap.add_argument("--queries", type=int, default=300, help="with --hnsw-chunks: queries for the recall check")
    args = absolute(ap.parse_args())
    if args.hnsw_chunks:
        work = args.work or Path(tempfile.mkdtemp(prefix="bench-incremental-hnsw-"))
        result = {"benchmark": "incremental-hnsw", "chunks": args.hnsw_chunks, "machine_before": machine()}
        result.update(hnsw_rounds(args.hnsw_chunks, args.cache, work, args.repeat, args.queries))
        result["machine_after"] = machine()
        report(result, args.out)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    corpus = work / "corpus" / "corpus.jsonl"
    rows = read_beir(args.corpus)
    write_jsonl(corpus, rows)
    index = work / "index"
    shutil.rmtree(index, ignore_errors=True)
    result: dict[str, Any] = {"benchmark": "incremental", "corpus": str(args.corpus), "machine_before": machine()}
    runs = [index_run(corpus, index, args.cache, "first build"), index_run(corpus, index, args.cache, "no change")]
    for k in range(args.repeat):
        i = len(rows) * (k + 1) // (args.repeat + 1)
        nonce = f" (run {time.time_ns()})."  # new text every time: never in the vector cache
        rows[i] = {**rows[i], "text": rows[i]["text"] + ADDED.rstrip(".") + nonce}
        write_jsonl(corpus, rows)
        runs.append(index_run(corpus, index, args.cache, f"one document changed ({rows[i]['_id']})"))
    result["runs"] = runs
    result["machine_after"] = machine()
    report(result, args.out)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
