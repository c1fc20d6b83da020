"""FAISS index type by size: exact IndexFlatIP up to the threshold, HNSW above it; kind filters on both."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from bot.build import build_index
from bot.config import Settings
from bot.documents import Document
from bot.embedding import load_embedder
from bot.index import load_index
from bot.search import Searcher
from bot.vectors import choose_vector_index

KINDS = ("guideline", "drug_label", "research", "other")
WORDS = (
    "insulin metformin dose renal kidney liver statin aspirin bleeding stroke fever child infant pregnancy "
    "vaccine antibiotic resistance asthma inhaler steroid rash itch calcinosis dermatomyositis biopsy tumor "
    "chemotherapy radiation nausea vomiting pain opioid sleep anxiety depression trial placebo mortality"
).split()


@pytest.mark.parametrize(
    "n, kind, threshold, expected",
    [
        (10, "auto", 50_000, "flat"),
        (50_000, "auto", 50_000, "flat"),
        (50_001, "auto", 50_000, "hnsw"),
        (10, "hnsw", 50_000, "hnsw"),
        (10**6, "flat", 50_000, "flat"),
        (1, "auto", 0, "hnsw"),
    ],
)
def test_choose_vector_index(n: int, kind: str, threshold: int, expected: str) -> None:
    assert choose_vector_index(n, kind, threshold=threshold) == expected


def test_unknown_vector_index_type() -> None:
    with pytest.raises(ValueError, match="unknown vector index"):
        choose_vector_index(10, "ivf")
    with pytest.raises(ValueError):
        Settings(vector_index="ivf")


def synthetic_docs(n: int, seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        sentence = " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "."
        docs.append(Document(id=f"d{i}", title=f"Doc {i}", text=sentence, kind=KINDS[i % len(KINDS)]))
    return docs


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The same 3,000 chunks (hashing embedder) indexed flat and HNSW."""
    tmp = tmp_path_factory.mktemp("vector-index")
    docs = synthetic_docs(3000)
    embedder = load_embedder("hash:64")
    out = {}
    for kind in ("flat", "hnsw"):
        build_index(docs, tmp / kind, embedder, model="hash:64", chunk_size=800, chunk_overlap=1, progress=False,
                    vector_index=kind)  # fmt: skip
        index = load_index(tmp / kind)
        out[kind] = Searcher(index, embedder)
    yield out
    for searcher in out.values():
        searcher.index.close()


def test_manifest_records_the_index_type(pair: dict[str, Searcher]) -> None:
    assert pair["flat"].index.manifest["faiss"] == "IndexFlatIP"
    hnsw = pair["hnsw"].index.manifest
    assert hnsw["faiss"] == "IndexHNSWFlat" and hnsw["faiss_params"]["M"] >= 16
    assert pair["hnsw"].index.vectors.ntotal == pair["flat"].index.vectors.ntotal == 3000


def _recall(searcher: Searcher, exact: Searcher, kinds: list[str] | None, *, exact_rows: int) -> float:
    searcher.exact_rows = exact_rows
    searcher.exact_factor = 9.0 if exact_rows else 0.0  # 0: always through the graph
    rng = np.random.default_rng(1)
    hits = total = 0
    for q in rng.choice(3000, size=40, replace=False):
        qvec = exact.index.vectors.reconstruct(int(q)) + rng.normal(0, 0.05, 64).astype(np.float32)
        qvec /= np.linalg.norm(qvec)
        mask = exact.index.kind_mask(kinds)
        want, _ = exact.dense(qvec, 10, mask)
        got, scores = searcher.dense(qvec, 10, mask)
        assert np.all(np.diff(scores) <= 1e-6)  # best first
        if mask is not None:
            assert mask[got].all()  # never a row of another kind
        hits += len(set(want.tolist()) & set(got.tolist()))
        total += len(want)
    return hits / total


@pytest.mark.parametrize(
    "kinds, exact_rows",
    [
        (None, 50_000),
        (["research"], 50_000),  # a filter leaving few rows: those rows are searched exactly
        (["research"], 0),  # the same filter through the graph, with a widened beam
        (["guideline", "drug_label", "other"], 0),
    ],
)
def test_hnsw_recall_against_exact_search(pair: dict[str, Searcher], kinds: list[str] | None, exact_rows: int) -> None:
    recall = _recall(pair["hnsw"], pair["flat"], kinds, exact_rows=exact_rows)
    assert recall >= (1.0 if kinds and exact_rows else 0.95)


def test_no_rows_of_a_kind(pair: dict[str, Searcher]) -> None:
    for searcher in pair.values():
        rows, scores = searcher.dense(np.ones(64, dtype=np.float32) / 8, 10, np.zeros(3000, dtype=bool))
        assert len(rows) == len(scores) == 0


def test_changing_the_index_type_rebuilds(tmp_path: Path) -> None:
    docs = synthetic_docs(50)
    embedder = load_embedder("hash:32")
    common = {"model": "hash:32", "chunk_size": 800, "chunk_overlap": 1, "progress": False}
    first = build_index(docs, tmp_path / "idx", embedder, **common)  # type: ignore[arg-type]
    assert not first.up_to_date
    assert build_index(docs, tmp_path / "idx", embedder, **common).up_to_date  # type: ignore[arg-type]
    switched = build_index(docs, tmp_path / "idx", embedder, vector_index="hnsw", **common)  # type: ignore[arg-type]
    assert not switched.up_to_date and switched.chunks_embedded == 0
    assert load_index(tmp_path / "idx").manifest["faiss"] == "IndexHNSWFlat"
    auto_low = build_index(docs, tmp_path / "idx", embedder, hnsw_threshold=10, **common)  # type: ignore[arg-type]
    assert auto_low.up_to_date  # auto above its threshold is HNSW: nothing to do


@pytest.mark.slow
def test_real_answers_identical_with_hnsw(built: Settings, tmp_path: Path) -> None:
    """The real model's answers on the tiny corpus are the same whichever index type holds the vectors."""
    from bot.cli import do_index
    from bot.engine import Engine

    hnsw = built.model_copy(update={"index": tmp_path / "hnsw", "vector_index": "hnsw"})
    stats = do_index(hnsw, progress=False)
    assert stats.chunks_embedded == 0  # every vector came from the shared cache
    flat_engine, hnsw_engine = Engine.load(built), Engine.load(hnsw)
    assert hnsw_engine.index.manifest["faiss"] == "IndexHNSWFlat"
    for question, kinds in [
        ("How is calcinosis cutis treated in dermatomyositis?", None),
        ("How is calcinosis cutis treated in dermatomyositis?", ["research"]),
        ("What is the usual starting dose of metformin in type 2 diabetes?", None),
    ]:
        a = flat_engine.ask(question, kinds=kinds).to_dict()
        b = hnsw_engine.ask(question, kinds=kinds).to_dict()
        a.pop("took_ms"), b.pop("took_ms")
        assert a == b
