"""Incremental rebuild: `bot index` after one document of a large corpus changed (MedQuAD: 16,423 docs).

    python bench/incremental.py                       # MedQuAD, vectors from ~/.cache/bot when there
    python bench/incremental.py --corpus X.jsonl --work /tmp/inc

Runs `bot index` as a user would (a child process: interpreter start, imports and all): a first full
build (its vectors come from the vector cache when earlier runs embedded the corpus), a second run with
nothing changed, then edits one document's text (appends a sentence) and runs it again. Reports wall
time, what was embedded and reused, and the peak RSS of each run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SHARED / "medquad" / "corpus.jsonl")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "bot")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="edit-and-rebuild rounds (a different document each)")
    ap.add_argument("--out", type=Path, default=None)
    args = absolute(ap.parse_args())

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
