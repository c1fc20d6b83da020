"""Index build speed: `bot index` against the naive sentence-transformers pipeline, in the same run.

    python bench/build.py                                   # the 5,183 SciFact abstracts
    python bench/build.py --limit 300 --out /tmp/build.json # a quicker look

Ours: `bot index` (a child process, fresh vector cache, so every chunk is embedded) on the corpus; the
ONNX export is made once beforehand and timed separately. Naive: a child process running
`SentenceTransformer(model).encode([title + " " + text ...])` with default settings on the same
documents. Reported for both: useful (non-padding) word pieces per second of embedding, texts per
second, wall time, padding share, peak RSS. Useful tokens are counted with the model's own tokenizer
(truncated at its 256 limit, as both pipelines truncate). `--eval QUERIES QRELS` also runs `bot eval`
on the vectors just built (ONNX) and, with `--eval-torch`, on vectors embedded with torch, so the two
nDCG@10 figures can be compared.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from common import (
    BOT,
    PYTHON,
    SHARED,
    absolute,
    machine,
    read_beir,
    report,
    run_child,
    save_partial,
    write_jsonl,
)

NAIVE = r"""
import json, os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
t0 = time.perf_counter()
from sentence_transformers import SentenceTransformer
from bot.embedding import resolve_model
model = SentenceTransformer(resolve_model(sys.argv[2]), device="cpu")
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
texts = [(r.get("title") or "") + " " + r["text"] for r in rows]
t1 = time.perf_counter()
model.encode(texts)  # default settings: batch 32, sorted by length, padded to the longest in a batch
t2 = time.perf_counter()
tok = model.tokenizer
lengths = [len(ids) for ids in tok(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]]
order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # as encode() orders them
computed = sum(max(lengths[i] for i in order[j:j + 32]) * len(order[j:j + 32]) for j in range(0, len(order), 32))
print(json.dumps({"texts": len(texts), "load_s": t1 - t0, "embed_s": t2 - t1, "tokens": sum(lengths),
                  "tokens_computed": computed}))
"""

EXPORT = r"""
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
from bot.embedding import load_embedder
e = load_embedder(sys.argv[1], backend="onnx", cache_dir=Path(sys.argv[2]))
print(json.dumps({"export_s": time.perf_counter() - t0, "file": str(e.file)}))
"""


def bot_index(corpus: Path, work: Path, cache: Path, *, model: str, backend: str, tag: str) -> dict[str, Any]:
    env = {"BOT_CACHE_DIR": str(cache), "BOT_BACKEND": backend, "HF_HUB_OFFLINE": "1"}
    child = run_child([*BOT, "-q", "index", "--corpus", str(corpus), "--index", str(work / f"index-{tag}"),
                       "--model", model, "--json", "--no-progress"], env=env)  # fmt: skip
    if child.returncode != 0:
        raise SystemExit(f"bot index failed:\n{child.stderr[-3000:]}")
    stats = child.json()
    embedded = stats["chunks_embedded"]
    tokens, computed, embed_s = stats.get("tokens_embedded", 0), stats.get("tokens_computed", 0), stats["embed_seconds"]
    return {
        "pipeline": f"bot index ({backend})",
        "documents": stats["documents"],
        "chunks": stats["chunks"],
        "texts_embedded": embedded,  # distinct chunk texts: identical texts are embedded once
        "wall_s": round(child.seconds, 2),
        "build_s": round(stats["seconds"], 2),
        "embed_s": round(embed_s, 2),
        "useful_tokens": tokens,
        "useful_tokens_per_s": round(tokens / embed_s, 1) if embed_s and tokens else None,
        "texts_per_s": round(embedded / embed_s, 2) if embed_s else None,
        "padding": round(1 - tokens / computed, 4) if computed else None,
        "peak_rss_mb": round(child.peak_rss_mb, 1),
        "peak_rss_mb_per_10k_chunks": round(child.peak_rss_mb * 10_000 / max(stats["chunks"], 1), 1),
    }


def naive(corpus: Path, *, model: str) -> dict[str, Any]:
    child = run_child([PYTHON, "-c", NAIVE, str(corpus), model], env={"TOKENIZERS_PARALLELISM": "false"})
    if child.returncode != 0:
        raise SystemExit(f"naive pipeline failed:\n{child.stderr[-3000:]}")
    r = child.json()
    return {
        "pipeline": "sentence-transformers encode (naive)",
        "documents": r["texts"],
        "texts_embedded": r["texts"],
        "wall_s": round(child.seconds, 2),
        "embed_s": round(r["embed_s"], 2),
        "useful_tokens": r["tokens"],
        "useful_tokens_per_s": round(r["tokens"] / r["embed_s"], 1),
        "texts_per_s": round(r["texts"] / r["embed_s"], 2),
        "padding": round(1 - r["tokens"] / r["tokens_computed"], 4),
        "peak_rss_mb": round(child.peak_rss_mb, 1),
    }


def interleaved(corpus: Path, cache: Path, *, model: str, docs: int, slice_docs: int = 100) -> dict[str, Any]:
    """Both pipelines in this process, alternating slices of the same documents, so both see the same load."""
    import time

    from sentence_transformers import SentenceTransformer

    from bot.chunking import chunk_document, embed_text
    from bot.embedding import load_embedder, resolve_model
    from bot.ingest import load_corpus

    documents = load_corpus(corpus).documents[:docs]
    naive_model = SentenceTransformer(resolve_model(model), device="cpu")
    ours = load_embedder(model, backend="onnx", cache_dir=cache)
    tok = naive_model.tokenizer
    totals = {"naive": [0, 0.0], "ours": [0, 0.0]}  # useful tokens, seconds
    for i in range(0, len(documents), slice_docs):
        part = documents[i : i + slice_docs]
        plain = [f"{d.title} {d.text}" for d in part]
        chunked = list(dict.fromkeys(embed_text(d, c) for d in part for c in chunk_document(d)))
        t0 = time.perf_counter()
        naive_model.encode(plain)
        totals["naive"][1] += time.perf_counter() - t0
        totals["naive"][0] += sum(len(x) for x in tok(plain, truncation=True, max_length=256)["input_ids"])
        t0 = time.perf_counter()
        ours.encode(chunked)
        totals["ours"][1] += time.perf_counter() - t0
        totals["ours"][0] += ours.last.tokens  # type: ignore[attr-defined]
    rate = {k: v[0] / v[1] for k, v in totals.items()}
    return {"documents": len(documents), "slice_documents": slice_docs,
            "naive_useful_tokens_per_s": round(rate["naive"], 1), "ours_useful_tokens_per_s": round(rate["ours"], 1),
            "speedup": round(rate["ours"] / rate["naive"], 3)}  # fmt: skip


def bot_eval(corpus: Path, queries: Path, qrels: Path, cache: Path, *, model: str, backend: str) -> dict[str, Any]:
    env = {"BOT_CACHE_DIR": str(cache), "BOT_BACKEND": backend, "HF_HUB_OFFLINE": "1"}
    child = run_child([*BOT, "-q", "eval", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels),
                       "--model", model, "--methods", "dense,final", "--json", "--no-progress"], env=env)  # fmt: skip
    if child.returncode != 0:
        raise SystemExit(f"bot eval failed:\n{child.stderr[-3000:]}")
    return {"backend": backend, "seconds": round(child.seconds, 1), "report": child.json()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SHARED / "beir-scifact" / "corpus.jsonl")
    ap.add_argument("--limit", type=int, default=None, help="only the first N documents")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--torch-index", action="store_true", help="also run `bot index` with the torch backend")
    ap.add_argument("--eval", nargs=2, type=Path, metavar=("QUERIES", "QRELS"), help="run `bot eval` afterwards")
    ap.add_argument("--eval-torch", action="store_true", help="with --eval: also evaluate torch-embedded vectors")
    ap.add_argument(
        "--interleave",
        type=int,
        default=0,
        metavar="DOCS",
        help="also compare both in this process on the first DOCS documents, alternating slices",
    )
    ap.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON result here")
    args = absolute(ap.parse_args())

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-build-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus" / "corpus.jsonl"
    write_jsonl(corpus, read_beir(args.corpus, limit=args.limit))
    result: dict[str, Any] = {"benchmark": "build", "corpus": str(args.corpus), "limit": args.limit,
                              "machine_before": machine()}  # fmt: skip
    cache = work / "cache-onnx"
    shutil.rmtree(cache, ignore_errors=True)
    export = run_child([PYTHON, "-c", EXPORT, args.model, str(cache)])
    if export.returncode != 0:
        raise SystemExit(f"ONNX export failed:\n{export.stderr[-3000:]}")
    result["onnx_export_once"] = {**export.json(), "wall_s": round(export.seconds, 2)}
    rows = result["pipelines"] = [bot_index(corpus, work, cache, model=args.model, backend="onnx", tag="onnx")]
    save_partial(result, args.out)
    if args.torch_index:
        rows.append(bot_index(corpus, work, work / "cache-torch", model=args.model, backend="torch", tag="torch"))
        save_partial(result, args.out)
    if not args.skip_naive:
        rows.append(naive(corpus, model=args.model))
        save_partial(result, args.out)
        ours, base = rows[0], rows[-1]
        result["speedup_useful_tokens_per_s"] = round(ours["useful_tokens_per_s"] / base["useful_tokens_per_s"], 3)
    if args.interleave:
        result["interleaved"] = interleaved(corpus, cache, model=args.model, docs=args.interleave)
        save_partial(result, args.out)
    if args.eval:
        evals = [bot_eval(corpus, *args.eval, cache, model=args.model, backend="onnx")]
        if args.eval_torch:
            if not args.torch_index:
                bot_index(corpus, work, work / "cache-torch", model=args.model, backend="torch", tag="torch")
            evals.append(bot_eval(corpus, *args.eval, work / "cache-torch", model=args.model, backend="torch"))
        result["eval"] = [{"backend": e["backend"], "seconds": e["seconds"], **e["report"]["methods"]} for e in evals]
    result["machine_after"] = machine()
    report(result, args.out)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
