"""Query embedding: sentence-transformers (torch) against the bot's ONNX Runtime embedder, side by side.

    python bench/embed.py --queries 300

Real questions from the corpora's query files, one at a time (as `bot serve` embeds them), alternating
between the two embedders so both see the same machine load. Reports p50/p99 latency per query and the
cosine between the two vectors of every question (the ONNX model is exported from the same weights).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import SHARED, absolute, machine, percentile, report
from latency import load_questions
from scaleindex import MODEL, default_corpora


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--corpus", type=Path, action="append", help="corpus whose queries.jsonl to use (repeatable)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "bot", help="where the ONNX export is")
    ap.add_argument("--out", type=Path, default=None)
    args = absolute(ap.parse_args())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from bot.embedding import load_embedder
    from bot.onnx import OnnxEmbedder

    questions = load_questions(args.corpus or default_corpora(SHARED), args.queries)
    result: dict[str, Any] = {"benchmark": "embed", "machine_before": machine(), "queries": len(questions)}
    torch_emb = load_embedder(MODEL, backend="torch")
    onnx_emb = load_embedder(MODEL, backend="onnx", cache_dir=args.cache)
    assert isinstance(onnx_emb, OnnxEmbedder)
    import torch

    result["torch_threads"] = torch.get_num_threads()
    for q in questions[:10]:  # warm up
        torch_emb.encode([q])
        onnx_emb.encode([q])
    ms: dict[str, list[float]] = {"torch": [], "onnx": []}
    cos = []
    for q in questions:
        t0 = time.perf_counter()
        a = torch_emb.encode([q])[0]
        ms["torch"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        b = onnx_emb.encode([q])[0]
        ms["onnx"].append((time.perf_counter() - t0) * 1000)
        cos.append(float(a @ b))
    for name, values in ms.items():
        result[name] = {"p50_ms": round(percentile(values, 50), 2), "p99_ms": round(percentile(values, 99), 2),
                        "mean_ms": round(float(np.mean(values)), 2)}  # fmt: skip
    result["ratio_p50_torch_over_onnx"] = round(result["torch"]["p50_ms"] / result["onnx"]["p50_ms"], 2)
    result["cosine_min"] = round(min(cos), 7)
    result["cosine_mean"] = round(float(np.mean(cos)), 7)
    result["machine_after"] = machine()
    report(result, args.out)


if __name__ == "__main__":
    main()
