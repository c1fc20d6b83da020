"""Answer latency of a running `bot serve` on a large index, and txtai on the same chunks, in one run.

    python bench/latency.py --chunks 100000                  # the issue's target size
    python bench/latency.py --chunks 100000 --generate-missing  # when the cache lacks real vectors

1. Builds (or reuses, under --work) an index of --chunks real chunks with the real `build_index`
   (see bench/scaleindex.py for where documents and vectors come from; both are reported).
2. Starts `bot serve` (uvicorn, real HTTP, rate limit off) and sends real questions from the corpora's
   query files to POST /api/ask: sequentially (client-side p50/p90/p99), then from N concurrent clients
   (throughput). Reports the server's resident memory.
3. In this process, side by side per question: our whole answer (`Engine.ask`) and txtai's
   `search(query, 10)` on an index of the same chunk texts and vectors (`hybrid: true`; the corpus
   vectors are handed to txtai through its documented external-vectors method instead of re-embedding
   them for hours; its queries are embedded live by sentence-transformers, as txtai would).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import BOT, ROOT, SHARED, absolute, machine, percentile, report, rss_mb
from scaleindex import MODEL, build_scale_index, default_corpora


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_questions(corpora: list[Path], n: int, *, seed: int = 0) -> list[str]:
    per: list[list[str]] = []
    for corpus in corpora:
        qfile = corpus.parent / "queries.jsonl" if corpus.is_file() else corpus / "queries.jsonl"
        if qfile.is_file():
            with qfile.open() as fh:
                per.append([json.loads(line)["text"] for line in fh if line.strip()])
    if not per:
        per = [["How is calcinosis cutis treated in dermatomyositis?", "What causes type 2 diabetes?"]]
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        for qs in per:
            out.append(rng.choice(qs))
    return [" ".join(q.split())[:1000] for q in out[:n]]


def lat_summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p90_ms": round(percentile(ms, 90), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2) if ms else float("nan"),
            "mean_ms": round(float(np.mean(ms)), 2) if ms else float("nan")}  # fmt: skip


class Server:
    def __init__(self, index: Path, work: Path, cache: Path | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BOT_RATE_LIMIT_PER_MINUTE": "0", "BOT_LOG_LEVEL": "warning",
               "BOT_DATA_DIR": str(work / "data"), "HF_HUB_OFFLINE": "1"}  # fmt: skip
        if cache is not None:
            env["BOT_CACHE_DIR"] = str(cache)
        self.log = (work / "serve.log").open("w")
        self.proc = subprocess.Popen([*BOT, "serve", "--index", str(index), "--no-build", "--host", "127.0.0.1",
                                      "--port", str(self.port)], env=env, cwd=ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT)  # fmt: skip

    def wait(self, timeout: float = 600) -> float:
        import httpx

        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"bot serve exited: {Path(self.log.name).read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("bot serve did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def ask_all(url: str, questions: list[str]) -> tuple[list[float], list[float], int]:
    import httpx

    client_ms, server_ms, answered = [], [], 0
    with httpx.Client(base_url=url, timeout=60) as client:
        for q in questions:
            t0 = time.perf_counter()
            r = client.post("/api/ask", json={"question": q})
            client_ms.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            body = r.json()
            server_ms.append(body["took_ms"])
            answered += bool(body["answered"])
    return client_ms, server_ms, answered


def concurrent(url: str, questions: list[str], clients: int) -> dict[str, Any]:
    shares = [questions[i::clients] for i in range(clients)]
    results: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []

    def worker(i: int) -> None:
        try:
            results[i] = ask_all(url, shares[i])[0]
        except Exception as exc:  # reported, not hidden
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = [x for r in results for x in r]
    return {"clients": clients, "requests": len(ms), "errors": errors[:3], "wall_s": round(wall, 2),
            "throughput_rps": round(len(ms) / wall, 1), **lat_summary(ms)}  # fmt: skip


def index_texts_and_vectors(build: Path) -> tuple[list[str], np.ndarray]:
    """Each chunk's embedded text (as `embed_text` builds it) and its vector, by row."""
    import faiss

    from bot.chunking import embed_text
    from bot.documents import Chunk, Document

    db = sqlite3.connect(f"file:{build / 'chunks.sqlite'}?mode=ro", uri=True)
    titles = dict(db.execute("SELECT id, title FROM documents"))
    texts = []
    for row, doc_id, heading, text in db.execute("SELECT row, doc_id, heading, text FROM chunks ORDER BY row"):
        doc = Document(doc_id, titles[doc_id], "")
        texts.append(embed_text(doc, Chunk(row, doc_id, 0, 0, text, "other", heading, [])))
    db.close()
    index = faiss.read_index(str(build / "vectors.faiss"))
    return texts, index.reconstruct_n(0, index.ntotal)


def txtai_index(texts: list[str], vectors: np.ndarray) -> tuple[Any, float]:
    from sentence_transformers import SentenceTransformer
    from txtai import Embeddings

    from bot.embedding import resolve_model

    lookup = {t: vectors[i] for i, t in enumerate(texts)}
    model = SentenceTransformer(resolve_model(MODEL), device="cpu")

    def transform(batch: list[str]) -> np.ndarray:
        if all(t in lookup for t in batch):  # the corpus: the vectors our index already holds
            return np.stack([lookup[t] for t in batch])
        return np.asarray(model.encode(batch, normalize_embeddings=True, show_progress_bar=False))  # a query

    emb = Embeddings({"method": "external", "transform": transform, "hybrid": True, "content": False})
    t0 = time.perf_counter()
    emb.index((i, t, None) for i, t in enumerate(texts))
    return emb, time.perf_counter() - t0


def side_by_side(index_root: Path, questions: list[str], cache: Path | None, *, peer: bool) -> dict[str, Any]:
    from bot.config import Settings
    from bot.engine import Engine
    from bot.index import resolve_build

    if cache is not None:
        os.environ["BOT_CACHE_DIR"] = str(cache)
    engine = Engine.load(Settings(index=index_root, cache_dir=cache))
    out: dict[str, Any] = {"embedder": type(engine.searcher.embedder).__name__}
    emb = None
    if peer:
        build = resolve_build(index_root)
        assert build is not None
        texts, vectors = index_texts_and_vectors(build)
        emb, seconds = txtai_index(texts, vectors)
        out["txtai_index_s"] = round(seconds, 1)
        out["txtai_config"] = {k: v for k, v in emb.config.items() if k != "transform"}
    for q in questions[:10]:  # warm up both
        engine.ask(q)
        if emb is not None:
            emb.search(q, 10)
    ours, theirs = [], []
    for q in questions:  # interleaved, so both see the same load
        t0 = time.perf_counter()
        engine.ask(q)
        ours.append((time.perf_counter() - t0) * 1000)
        if emb is not None:
            t0 = time.perf_counter()
            emb.search(q, 10)
            theirs.append((time.perf_counter() - t0) * 1000)
    out["ours_whole_answer"] = lat_summary(ours)
    if theirs:
        out["txtai_search_only"] = lat_summary(theirs)
        out["ratio_p50_txtai_over_ours"] = round(percentile(theirs, 50) / percentile(ours, 50), 2)
        out["ratio_mean_txtai_over_ours"] = round(float(np.mean(theirs)) / float(np.mean(ours)), 2)
    engine.index.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--corpus", type=Path, action="append", help="corpus file or folder (repeatable)")
    ap.add_argument("--generate-missing", action="store_true", help="generated vectors for uncached texts")
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--concurrency", default="2,4,8")
    ap.add_argument("--no-txtai", action="store_true")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "bot", help="vector + ONNX cache")
    ap.add_argument("--vector-index", default="auto", choices=["auto", "flat", "hnsw"])
    ap.add_argument("--work", type=Path, default=None, help="keeps the index between runs")
    ap.add_argument("--out", type=Path, default=None)
    args = absolute(ap.parse_args())

    corpora = args.corpus or default_corpora(SHARED)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-latency-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"benchmark": "latency", "machine_before": machine(), "corpora": [str(c) for c in corpora]}
    index_root = work / f"index-{args.chunks}-{args.vector_index}"
    result["index"] = build_scale_index(index_root, corpora, args.chunks, cache_root=args.cache,
                                        generate=args.generate_missing, vector_index=args.vector_index)  # fmt: skip
    from bot.index import read_manifest, resolve_build

    build = resolve_build(index_root)
    assert build is not None
    result["index"]["faiss"] = read_manifest(build).get("faiss_params") or read_manifest(build).get("faiss")
    questions = load_questions(corpora, args.questions)

    server = Server(index_root, work, args.cache)
    try:
        result["serve_ready_s"] = round(server.wait(), 1)
        ask_all(server.url, questions[:20])  # warm-up
        result["serve_rss_after_warmup"] = rss_mb(server.proc.pid)
        client_ms, server_ms, answered = ask_all(server.url, questions)
        result["sequential"] = {"client": lat_summary(client_ms), "server_took_ms": lat_summary(server_ms),
                                "answered_rate": round(answered / len(questions), 3)}  # fmt: skip
        result["concurrent"] = [concurrent(server.url, questions, int(c)) for c in args.concurrency.split(",") if c]
        result["serve_rss_end"] = rss_mb(server.proc.pid)
        chunks = result["index"]["chunks"]
        result["serve_peak_rss_mb_per_10k_chunks"] = round(result["serve_rss_end"]["peak_rss_mb"] * 1e4 / chunks, 1)
    finally:
        server.stop()
    result["in_process"] = side_by_side(index_root, questions, args.cache, peer=not args.no_txtai)
    result["machine_after"] = machine()
    report(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
