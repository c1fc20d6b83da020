"""Dense search through Milvus against the local FAISS file, on the same built index.

    python bench/milvus.py                                  # index/ (the default corpus), Milvus Lite in a temp dir
    python bench/milvus.py --index /tmp/mq --uri http://127.0.0.1:19530 --repeat 50

Publishes the index's current build with the real `bot index` publisher, then for each question (embedded
once) times, one query at a time as `bot serve` searches: `Searcher.dense` (top 100) with FAISS and with
Milvus, unfiltered and with a kind filter; fetching the vectors of 100 rows by primary key from Milvus
against FAISS `reconstruct_batch`; and the whole answer (`Engine.ask`) with each store, checking that the
answers are the same. Prints one JSON object (milliseconds, p50/p99).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, machine, percentile, report

sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "What does the boxed warning for Humira say?",
    "What are the contraindications to atorvastatin?",
    "What is the usual dose of sildenafil?",
    "How soon after starting opioids for chronic pain should a clinician reassess benefits and risks?",
    "Is as-needed budesonide-formoterol effective in mild asthma?",
    "What causes muscle weakness?",
    "What is the recommended dose of haloperidol for agitation?",
    "Can children take aspirin for a viral infection?",
    "Do statins prevent recurrent stroke?",
    "What are the side effects of adalimumab?",
]


def timed(fn: Any, repeat: int) -> tuple[list[float], Any]:
    out = None
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times, out


def summary(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(times, 50), 3), "p99_ms": round(percentile(times, 99), 3), "n": len(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=ROOT / "index")
    ap.add_argument("--uri", default="", help="Milvus URI (default: a Milvus Lite file in a temporary folder)")
    ap.add_argument("--repeat", type=int, default=20, help="timed runs per question and operation")
    ap.add_argument("--questions", type=int, default=len(QUESTIONS))
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()

    from bot.config import Settings
    from bot.engine import Engine
    from bot.index import resolve_build
    from bot.milvus_store import MilvusDense, publish_settings

    tmp = tempfile.TemporaryDirectory(prefix="bench-milvus-")
    uri = args.uri or str(Path(tmp.name) / "milvus.db")
    build = resolve_build(args.index)
    if build is None:
        raise SystemExit(f"no index at {args.index}: run `bot index` first")
    faiss_settings = Settings(index=build, data_dir=Path(tmp.name))
    milvus_settings = replace_settings(faiss_settings, vector_store="milvus", milvus_uri=uri, milvus_grace_s=0)
    t0 = time.perf_counter()
    published = publish_settings(build, milvus_settings)
    publish_s = time.perf_counter() - t0
    local = Engine.load(faiss_settings)
    remote = Engine.load(milvus_settings)
    questions = QUESTIONS[: args.questions]
    kind = local.index.kind_names[0]
    mask = local.index.kind_mask([kind])
    results: dict[str, list[float]] = {}
    same_rows = same_answers = 0
    for q in questions:
        qvec = local.searcher.embed(q)
        for name, engine in (("faiss", local), ("milvus", remote)):
            s = engine.searcher
            s.dense(qvec, 100)  # warm
            times, rows = timed(lambda s=s, v=qvec: s.dense(v, 100), args.repeat)
            results.setdefault(f"dense_{name}", []).extend(times)
            times, _ = timed(lambda s=s, v=qvec: s.dense(v, 100, mask), args.repeat)
            results.setdefault(f"dense_kind_{name}", []).extend(times)
            if name == "faiss":
                expected = rows[0]
            else:
                same_rows += int(np.array_equal(rows[0], expected))
        picked = np.random.default_rng(0).choice(local.index.size, size=100, replace=False)
        times, _ = timed(lambda p=picked: local.index.vectors.reconstruct_batch(p), args.repeat)
        results.setdefault("vectors100_faiss_reconstruct", []).extend(times)
        store = remote.searcher.dense_store
        assert isinstance(store, MilvusDense)
        times, got = timed(lambda p=picked, st=store: st.vectors(p), args.repeat)
        results.setdefault("vectors100_milvus_get", []).extend(times)
        assert np.array_equal(got, local.index.vectors.reconstruct_batch(picked))
        answers = []
        for name, engine in (("faiss", local), ("milvus", remote)):
            times, answer = timed(lambda e=engine, q=q: e.ask(q), max(3, args.repeat // 4))
            results.setdefault(f"answer_{name}", []).extend(times)
            d = answer.to_dict()
            d.pop("took_ms")
            answers.append(d)
        same_answers += int(answers[0] == answers[1])
    out = {
        "machine": machine(),
        "index": str(build),
        "chunks": local.index.size,
        "uri": "milvus-lite (temporary .db)" if not args.uri else args.uri,
        "publish_s": round(publish_s, 2),
        "collection": published.collection,
        "kind_filter": kind,
        "questions": len(questions),
        "same_dense_top100": f"{same_rows}/{len(questions)}",
        "same_answers": f"{same_answers}/{len(questions)}",
        **{k: summary(v) for k, v in results.items()},
    }
    report(out, args.out)
    tmp.cleanup()


def replace_settings(settings: Any, **changes: Any) -> Any:
    return type(settings)(**{**settings.model_dump(), **changes})


if __name__ == "__main__":
    main()
