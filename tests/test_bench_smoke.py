"""Tiny runs of every benchmark in bench/, so they keep working. No timing is asserted, only that each
runs end to end on a small real corpus and reports what it promises."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.ingest import load_corpus

from .conftest import ROOT, SEED_QUESTION, make_corpus

pytestmark = pytest.mark.slow
BENCH = ROOT / "bench"


def run(script: str, *args: str, out: Path, timeout: int = 600) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(BENCH / script), *args, "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(out.read_text())
    assert result["machine_before"]["cores"] >= 1 and "load_avg_1_5_15" in result["machine_after"]
    return result


@pytest.fixture(scope="module")
def beir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny test corpus in BEIR layout, with two judged questions."""
    tmp = tmp_path_factory.mktemp("bench-beir")
    docs = load_corpus(make_corpus(tmp / "src")).documents
    with (tmp / "corpus.jsonl").open("w") as fh:
        for d in docs:
            fh.write(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n")
    seed = next(d.id for d in docs if "calcinosis" in d.id)
    (tmp / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": SEED_QUESTION}) + "\n"
        + json.dumps({"_id": "q2", "text": "Which drugs treat calcinosis?"}) + "\n"
    )  # fmt: skip
    (tmp / "qrels").mkdir()
    (tmp / "qrels" / "dev.tsv").write_text(f"query-id\tcorpus-id\tscore\nq1\t{seed}\t1\nq2\t{seed}\t1\n")
    return tmp


@pytest.fixture(scope="module")
def build_run(beir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    work = tmp_path_factory.mktemp("bench-build")
    evaluation = ["--eval", str(beir / "queries.jsonl"), str(beir / "qrels" / "dev.tsv")]
    result = run("build.py", "--corpus", str(beir / "corpus.jsonl"), "--work", str(work), "--interleave", "10",
                 *evaluation, out=work / "result.json")  # fmt: skip
    return result, work / "cache-onnx"  # holds the ONNX export and the corpus vectors for the other smokes


def test_build_smoke(build_run: tuple[dict[str, Any], Path]) -> None:
    result, _ = build_run
    ours, naive = result["pipelines"]
    assert ours["pipeline"] == "bot index (onnx)" and naive["pipeline"].startswith("sentence-transformers")
    assert ours["padding"] == 0.0 and 0 <= naive["padding"] < 1
    assert 0 < ours["texts_embedded"] <= ours["chunks"] and ours["useful_tokens"] > 0
    assert naive["texts_embedded"] == ours["documents"]
    assert result["speedup_useful_tokens_per_s"] > 0 and result["onnx_export_once"]["file"].endswith(".onnx")
    assert ours["peak_rss_mb"] > 0
    assert result["interleaved"]["speedup"] > 0 and result["interleaved"]["documents"] > 0
    (evaluated,) = result["eval"]
    assert evaluated["backend"] == "onnx" and 0 <= evaluated["final"]["ndcg@10"] <= 1


def test_incremental_smoke(beir: Path, build_run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, cache = build_run
    result = run("incremental.py", "--corpus", str(beir / "corpus.jsonl"), "--cache", str(cache), "--repeat", "1",
                 "--work", str(tmp_path), out=tmp_path / "result.json")  # fmt: skip
    first, same, changed = result["runs"]
    assert first["chunks_embedded"] == 0  # every vector came from the cache the build bench filled
    assert same["up_to_date"] and not changed["up_to_date"]
    assert changed["changed"] == 1 and 1 <= changed["chunks_embedded"] <= 3


def test_latency_smoke(beir: Path, build_run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, cache = build_run
    peer = [] if importlib.util.find_spec("txtai") else ["--no-txtai"]
    result = run("latency.py", "--corpus", str(beir / "corpus.jsonl"), "--chunks", "60", "--questions", "6",
                 "--concurrency", "2", "--cache", str(cache), "--work", str(tmp_path), *peer,
                 out=tmp_path / "result.json")  # fmt: skip
    index = result["index"]
    assert index["chunks"] >= 60 and index["copied_documents"] > 0  # the tiny corpus is copied up to size
    assert index["vectors"]["generated"] == 0 and index["faiss"]["type"] == "IndexFlatIP"
    assert result["sequential"]["client"]["n"] == 6 and result["sequential"]["answered_rate"] > 0
    (conc,) = result["concurrent"]
    assert conc["clients"] == 2 and conc["requests"] == 6 and not conc["errors"]
    assert result["serve_rss_end"]["rss_mb"] > 0
    assert result["in_process"]["embedder"] == "OnnxEmbedder"
    if not peer:
        assert result["in_process"]["txtai_config"]["hybrid"] is True
        assert result["in_process"]["ratio_p50_txtai_over_ours"] > 0


def test_scale_smoke(build_run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, cache = build_run
    result = run("scale.py", "--n", "3000", "--queries", "12", "--ef", "16,96", "--cache", str(cache), "--flat",
                 out=tmp_path / "result.json")  # fmt: skip
    hnsw = result["hnsw"]
    assert hnsw["type"] == "IndexHNSWFlat" and result["real_base_vectors"] > 0
    assert {r["efSearch"] for r in hnsw["search"]} == {16, 96}
    assert all(0 <= r.get("recall@10", r.get("recall@100", -1)) <= 1 for r in hnsw["search"])
    assert any("recall@100" in r for r in hnsw["search"])
    assert result["flat_exact_p50_ms"] > 0


def test_embed_smoke(beir: Path, build_run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, cache = build_run
    result = run("embed.py", "--queries", "5", "--corpus", str(beir / "corpus.jsonl"), "--cache", str(cache),
                 out=tmp_path / "result.json")  # fmt: skip
    assert result["queries"] == 5 and result["cosine_min"] >= 0.9999
    assert result["torch"]["p50_ms"] > 0 and result["onnx"]["p50_ms"] > 0


def test_scale_sweep_smoke(build_run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, cache = build_run
    result = run("scale.py", "--sweep", "1500,3000", "--queries", "8", "--cache", str(cache),
                 out=tmp_path / "result.json")  # fmt: skip
    sizes = result["sizes"]
    assert [s["n"] for s in sizes] == [1500, 3000]
    assert all(s["flat_p50_ms"] > 0 and 0 <= s["hnsw_recall@10"] <= 1 for s in sizes)
    assert [f["rows_kept"] for f in sizes[1]["kind_filter_k100"]] == [750, 150, 30]
