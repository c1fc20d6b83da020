"""Fast rebuilds: an incremental build reuses the chunks and BM25 tokens of unchanged documents and
builds BM25 vectorised, and the index it writes is identical to a full build of the same corpus."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bot.build as build_mod
from bot.build import build_index, build_lexical
from bot.chunking import chunk_document, embed_text
from bot.documents import Document
from bot.embedding import load_embedder
from bot.index import load_index, previous_chunks, resolve_build
from bot.ingest import load_corpus
from bot.lexical import Lexical, tokenize

from .conftest import make_corpus

WORDS = (
    "insulin metformin dose renal kidney liver statin aspirin bleeding stroke fever child infant pregnancy "
    "vaccine antibiotic resistance asthma inhaler steroid rash calcinosis dermatomyositis biopsy tumor the of"
).split()
COMMON = {"model": "hash:32", "chunk_size": 300, "chunk_overlap": 1, "progress": False}


def synthetic(n: int, seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        paras = []
        for _ in range(rng.randint(1, 4)):
            sents = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 20))).capitalize() + "." for _ in
                     range(rng.randint(1, 6))]  # fmt: skip
            paras.append(" ".join(sents))
        heading = "Treatment\n" if i % 3 == 0 else ""
        docs.append(
            Document(f"d{i}", f"Title {i % 17}", heading + "\n\n".join(paras), kind=("research", "other")[i % 2])
        )
    return docs


def tiny_docs(tmp: Path) -> list[Document]:
    return load_corpus(make_corpus(tmp / "corpus")).documents


def texts_of(docs: list[Document], size: int = 800) -> list[str]:
    return [embed_text(d, c) for d in docs for c in chunk_document(d, size=size)]


def assert_same_lexical(a: Lexical, b: Lexical) -> None:
    assert a.vocab == b.vocab
    assert a.size == b.size
    for key in ("data", "indices", "indptr"):
        x, y = np.asarray(a.retriever.scores[key]), np.asarray(b.retriever.scores[key])
        assert x.dtype == y.dtype and np.array_equal(x, y), key


@pytest.mark.parametrize(
    "texts",
    [
        pytest.param(["Insulin dose in renal failure.", "The of and.", "insulin insulin insulin kidney"], id="tiny"),
        pytest.param(["Only one document about calcinosis cutis and its treatment."], id="one"),
        pytest.param(texts_of(synthetic(300)), id="synthetic"),
    ],
)
def test_build_lexical_is_lexical_build(texts: list[str]) -> None:
    assert_same_lexical(build_lexical([" ".join(tokenize(t)) for t in texts]), Lexical.build(texts))


def test_build_lexical_on_real_documents(tmp_path: Path) -> None:
    texts = texts_of(tiny_docs(tmp_path))
    fast, ref = build_lexical([" ".join(tokenize(t)) for t in texts]), Lexical.build(texts)
    assert_same_lexical(fast, ref)
    for q in ("calcinosis cutis treatment", "metformin dose", "sodium thiosulfate"):
        r1, s1 = fast.search(q, 10)
        r2, s2 = ref.search(q, 10)
        assert r1.tolist() == r2.tolist() and np.array_equal(s1, s2)


def table(build: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(build / "chunks.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def assert_same_index(a_root: Path, b_root: Path) -> None:
    a, b = resolve_build(a_root), resolve_build(b_root)
    assert a is not None and b is not None
    sql = 'SELECT row, doc_id, start, "end", kind, heading, hash, text, sentences, code, page FROM chunks ORDER BY row'
    assert table(a, sql) == table(b, sql)
    # page for page (the file written in the same order), apart from the header's count of commits
    data_a, data_b = (a / "chunks.sqlite").read_bytes(), (b / "chunks.sqlite").read_bytes()
    assert len(data_a) == len(data_b) and data_a[100:] == data_b[100:]
    for folder in ("bm25", "bm25_doc"):  # the BM25 files, the token ids the next build reuses included
        names = sorted(f.name for f in (a / folder).iterdir())
        assert names == sorted(f.name for f in (b / folder).iterdir())
        assert {build_mod.TOKEN_IDS, build_mod.TOKEN_OFFSETS} <= set(names)
        for name in names:
            assert (a / folder / name).read_bytes() == (b / folder / name).read_bytes(), (folder, name)
    assert table(a, "SELECT * FROM documents ORDER BY id") == table(b, "SELECT * FROM documents ORDER BY id")
    ia, ib = load_index(a_root), load_index(b_root)
    try:
        assert_same_lexical(ia.lexical, ib.lexical)
        assert np.array_equal(ia.vectors.reconstruct_n(0, ia.size), ib.vectors.reconstruct_n(0, ib.size))
    finally:
        ia.close()
        ib.close()


@pytest.mark.parametrize("source", ["synthetic", "tiny corpus"])
def test_incremental_build_equals_full_build(tmp_path: Path, source: str) -> None:
    docs = synthetic(120) if source == "synthetic" else tiny_docs(tmp_path)
    embedder = load_embedder("hash:32")
    first = build_index(docs, tmp_path / "inc", embedder, **COMMON)  # type: ignore[arg-type]
    assert not first.up_to_date
    changed = list(docs)
    changed[1] = replace(changed[1], text=changed[1].text + " Aspirin was added to this document.")
    changed.pop(2)  # removed
    changed.append(Document("new", "A new document", "Metformin is a new first-line therapy. It works."))
    stats = build_index(changed, tmp_path / "inc", embedder, **COMMON)  # type: ignore[arg-type]
    assert (stats.changed, stats.removed, stats.added) == (1, 1, 1)
    full = build_index(changed, tmp_path / "full", embedder, **COMMON)  # type: ignore[arg-type]
    assert full.chunks == stats.chunks
    assert_same_index(tmp_path / "inc", tmp_path / "full")


def test_unchanged_documents_are_not_chunked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = synthetic(40)
    embedder = load_embedder("hash:32")
    build_index(docs, tmp_path / "idx", embedder, **COMMON)  # type: ignore[arg-type]
    calls: list[str] = []
    real = build_mod.chunk_document

    def counting(doc: Document, **kw: object):  # type: ignore[no-untyped-def]
        calls.append(doc.id)
        return real(doc, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(build_mod, "chunk_document", counting)
    docs[5] = replace(docs[5], text=docs[5].text + " Fever.")
    build_index(docs, tmp_path / "idx", embedder, **COMMON)  # type: ignore[arg-type]
    assert calls == ["d5"]
    # A change to the chunking or tokenising code (another reuse key) chunks everything again.
    monkeypatch.setattr(build_mod, "reuse_key", lambda: "other code")
    docs[6] = replace(docs[6], text=docs[6].text + " Fever.")
    calls.clear()
    build_index(docs, tmp_path / "idx", embedder, **COMMON)  # type: ignore[arg-type]
    assert len(calls) == len(docs)


def test_force_and_other_chunking_do_not_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = synthetic(20)
    embedder = load_embedder("hash:32")
    build_index(docs, tmp_path / "idx", embedder, **COMMON)  # type: ignore[arg-type]
    calls: list[str] = []
    real = build_mod.chunk_document
    monkeypatch.setattr(build_mod, "chunk_document", lambda doc, **kw: calls.append(doc.id) or real(doc, **kw))
    build_index(docs, tmp_path / "idx", embedder, force=True, **COMMON)  # type: ignore[arg-type]
    assert len(calls) == 20
    calls.clear()
    build_index(docs, tmp_path / "idx", embedder, **{**COMMON, "chunk_size": 500})  # type: ignore[arg-type]
    assert len(calls) == 20


def test_damaged_previous_store_is_rebuilt(tmp_path: Path) -> None:
    docs = synthetic(20)
    embedder = load_embedder("hash:32")
    build_index(docs, tmp_path / "idx", embedder, **COMMON)  # type: ignore[arg-type]
    build = resolve_build(tmp_path / "idx")
    assert build is not None
    reuse = previous_chunks(build)
    assert len(reuse.docs) == 20 and not reuse.tokens  # BM25 tokens: from the BM25 folders' token ids
    db = sqlite3.connect(build / "chunks.sqlite")
    db.execute("UPDATE chunks SET sentences = 'not json' WHERE row = 0")
    db.commit()
    db.close()
    assert previous_chunks(build).docs == {}
    docs[0] = replace(docs[0], text=docs[0].text + " Fever.")
    stats = build_index(docs, tmp_path / "idx", embedder, **COMMON)  # type: ignore[arg-type]
    assert stats.changed == 1
    full = build_index(docs, tmp_path / "full", embedder, **COMMON)  # type: ignore[arg-type]
    assert full.chunks == stats.chunks
    assert_same_index(tmp_path / "idx", tmp_path / "full")


def test_unchanged_chunks_take_their_token_ids_from_the_previous_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unchanged chunks and documents are not tokenised again: their BM25 token ids come from the current
    build's BM25 folders (renumbered for the new vocabulary), and the result equals a full build, also when
    the changed document brings new words and removes the only use of others."""
    docs = synthetic(60)
    embedder = load_embedder("hash:32")
    build_index(docs, tmp_path / "inc", embedder, **COMMON)  # type: ignore[arg-type]
    texts: list[str] = []
    real = build_mod.tokenize
    monkeypatch.setattr(build_mod, "tokenize", lambda text: texts.append(text) or real(text))
    changed = list(docs)
    changed[0] = replace(changed[0], text="Zolpidem and quetiapine interact. " + changed[0].text)  # new words
    changed[1] = replace(changed[1], title="Calcinosis", text="Only words nobody else uses: xylophone.")
    changed.insert(0, Document("first", "Brand new first document", "Ondansetron for nausea in children."))
    stats = build_index(changed, tmp_path / "inc", embedder, **COMMON)  # type: ignore[arg-type]
    assert (stats.changed, stats.added) == (2, 1)
    n_changed = sum(len(chunk_document(d, size=300)) for d in changed[:3])
    assert len(texts) == n_changed + 3  # the changed and new documents' chunks, and the three documents
    monkeypatch.setattr(build_mod, "tokenize", real)
    build_index(changed, tmp_path / "full", embedder, **COMMON)  # type: ignore[arg-type]
    assert_same_index(tmp_path / "inc", tmp_path / "full")
    for q in ("zolpidem quetiapine", "insulin dose kidney", "xylophone", "ondansetron nausea"):
        a, b = load_index(tmp_path / "inc"), load_index(tmp_path / "full")
        try:
            for lex_a, lex_b in ((a.lexical, b.lexical), (a.doc_lexical, b.doc_lexical)):
                assert lex_a is not None and lex_b is not None
                sa, sb = lex_a.scores(q), lex_b.scores(q)
                assert (sa is None and sb is None) or np.array_equal(sa, sb)  # type: ignore[arg-type]
        finally:
            a.close()
            b.close()


def test_token_ids_that_do_not_fit_are_not_reused(tmp_path: Path) -> None:
    docs = synthetic(30)
    build_index(docs, tmp_path / "idx", load_embedder("hash:32"), **COMMON)  # type: ignore[arg-type]
    build = resolve_build(tmp_path / "idx")
    assert build is not None
    rows = len(table(build, "SELECT row FROM chunks"))
    assert build_mod._previous_ids(build / "bm25", rows) is not None
    assert build_mod._previous_ids(build / "bm25", rows + 1) is None  # another count of chunks
    (build / "bm25" / build_mod.TOKEN_IDS).unlink()
    assert build_mod._previous_ids(build / "bm25", rows) is None


def test_build_older_than_token_ids_is_reused_with_its_tokens_table(tmp_path: Path) -> None:
    """A build written before the BM25 folders held token ids (its store has a `tokens` table instead):
    the next build reads the tokens from that table and writes what a full build writes."""
    import hashlib

    docs = synthetic(40)
    embedder = load_embedder("hash:32")
    build_index(docs, tmp_path / "idx", embedder, **COMMON)  # type: ignore[arg-type]
    build = resolve_build(tmp_path / "idx")
    assert build is not None
    db = sqlite3.connect(build / "chunks.sqlite")
    db.execute("CREATE TABLE tokens (hash TEXT PRIMARY KEY, tokens TEXT NOT NULL)")
    for d in docs:
        for c in chunk_document(d, size=300):
            db.execute("INSERT OR IGNORE INTO tokens VALUES (?,?)", (c.hash, " ".join(tokenize(embed_text(d, c)))))
    db.commit()
    db.close()
    manifest = json.loads((build / "manifest.json").read_text())
    for folder in ("bm25", "bm25_doc"):
        for name in (build_mod.TOKEN_IDS, build_mod.TOKEN_OFFSETS):
            (build / folder / name).unlink()
            del manifest["files"][f"{folder}/{name}"]
    manifest["files"]["chunks.sqlite"] = hashlib.sha256((build / "chunks.sqlite").read_bytes()).hexdigest()
    from bot.index import write_manifest

    write_manifest(build, manifest)
    assert build_mod.damaged(build) is None
    docs[3] = replace(docs[3], text=docs[3].text + " Fever.")
    stats = build_index(docs, tmp_path / "idx", embedder, **COMMON)  # type: ignore[arg-type]
    assert stats.changed == 1
    build_index(docs, tmp_path / "full", embedder, **COMMON)  # type: ignore[arg-type]
    assert_same_index(tmp_path / "idx", tmp_path / "full")


def test_document_rows_are_copied_only_when_proved_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged document's row is copied from the current store by SQLite; a document whose hash is
    unchanged but whose row is not (its source, sections, or a url/date of None against "", which the
    hash does not tell apart) is written again. Either way the store equals a full build's."""
    from bot.documents import Section

    docs = synthetic(30)
    docs[7] = replace(docs[7], url="", date="")
    embedder = load_embedder("hash:32")
    build_index(docs, tmp_path / "idx", embedder, **COMMON)  # type: ignore[arg-type]
    seen: list[set[str]] = []
    real = build_mod.write_chunk_store

    def spy(*a, copy=None, **kw):  # type: ignore[no-untyped-def]
        seen.append(set(copy.docs) if copy is not None else set())
        return real(*a, copy=copy, **kw)

    monkeypatch.setattr(build_mod, "write_chunk_store", spy)
    docs[1] = replace(docs[1], text=docs[1].text + " Fever.")
    docs[3] = replace(docs[3], source="elsewhere.jsonl")
    docs[4] = replace(docs[4], sections=[Section(0, 5, "research")])
    docs[5] = replace(docs[5], url="")  # was None: the same hash
    docs[7] = replace(docs[7], url=None, date=None)  # was ""
    stats = build_index(docs, tmp_path / "idx", embedder, **COMMON)  # type: ignore[arg-type]
    assert stats.changed == 1
    assert seen[-1] == {d.id for d in docs} - {"d1", "d3", "d4", "d5", "d7"}
    build_index(docs, tmp_path / "full", embedder, **COMMON)  # type: ignore[arg-type]
    assert_same_index(tmp_path / "idx", tmp_path / "full")


def test_unchanged_chunks_texts_are_read_when_needed(tmp_path: Path) -> None:
    """Unchanged chunks are not read as chunks, but their texts are read from the current store when they
    are needed: their BM25 tokens when the token ids are missing (and no `tokens` table), their vectors
    when the current build's are of another model."""
    import hashlib

    from bot.index import write_manifest

    docs = synthetic(40)
    build_index(docs, tmp_path / "idx", load_embedder("hash:32"), **COMMON)  # type: ignore[arg-type]
    build = resolve_build(tmp_path / "idx")
    assert build is not None
    manifest = json.loads((build / "manifest.json").read_text())
    for folder in ("bm25", "bm25_doc"):
        for name in (build_mod.TOKEN_IDS, build_mod.TOKEN_OFFSETS):
            (build / folder / name).unlink()
            del manifest["files"][f"{folder}/{name}"]
    write_manifest(build, manifest)
    docs[3] = replace(docs[3], text=docs[3].text + " Fever.")
    build_index(docs, tmp_path / "idx", load_embedder("hash:32"), **COMMON)  # type: ignore[arg-type]
    build_index(docs, tmp_path / "full", load_embedder("hash:32"), **COMMON)  # type: ignore[arg-type]
    assert_same_index(tmp_path / "idx", tmp_path / "full")
    other = {**COMMON, "model": "hash:16"}
    docs[4] = replace(docs[4], text=docs[4].text + " Fever.")
    stats = build_index(docs, tmp_path / "idx", load_embedder("hash:16"), **other)  # type: ignore[arg-type]
    assert stats.chunks_embedded == stats.chunks  # no vector of this model: every text embedded
    build_index(docs, tmp_path / "full16", load_embedder("hash:16"), **other)  # type: ignore[arg-type]
    assert_same_index(tmp_path / "idx", tmp_path / "full16")
    assert hashlib.sha256((resolve_build(tmp_path / "idx") / "vectors.faiss").read_bytes()).hexdigest() == (  # type: ignore[operator]
        hashlib.sha256((resolve_build(tmp_path / "full16") / "vectors.faiss").read_bytes()).hexdigest()  # type: ignore[operator]
    )


def test_manifest_records_reuse_key(tmp_path: Path) -> None:
    build_index(synthetic(5), tmp_path / "idx", load_embedder("hash:32"), **COMMON)  # type: ignore[arg-type]
    build = resolve_build(tmp_path / "idx")
    assert build is not None
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["reuse_key"] == build_mod.reuse_key()


# --- HNSW: a changed document's rows are taken out of the previous graph and its new rows inserted ---

HNSW = {**COMMON, "hnsw_threshold": 10}  # auto: HNSW above 10 chunks


def chunk_rows(build: Path) -> dict[int, tuple[str, str]]:
    return {r: (d, h) for r, d, h in table(build, "SELECT row, doc_id, hash FROM chunks")}


def exact_and_graph(root: Path, queries: np.ndarray, k: int = 10) -> tuple[list[list[int]], list[list[int]]]:
    """Exact search over the index's own vectors and its HNSW graph search, row ids per query."""
    import faiss

    index = load_index(root)
    try:
        assert index.manifest["faiss"] == "IndexHNSWFlat"
        flat = faiss.downcast_index(index.vectors.storage)
        _, exact = flat.search(queries, k)
        _, graph = index.vectors.search(queries, k)
        return exact.tolist(), graph.tolist()
    finally:
        index.close()


def test_hnsw_one_document_change_patches_only_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.vectors as index_mod

    docs = synthetic(150)
    embedder = load_embedder("hash:32")
    first = build_index(docs, tmp_path / "inc", embedder, **HNSW)  # type: ignore[arg-type]
    assert first.vectors_written == "full" and first.rows_added == first.chunks
    old_build = resolve_build(tmp_path / "inc")
    assert old_build is not None
    old_rows = chunk_rows(old_build)

    seen: list[np.ndarray] = []
    real_patch = index_mod.patch_hnsw
    monkeypatch.setattr(index_mod, "patch_hnsw", lambda old, src, m: seen.append(src) or real_patch(old, src, m))
    changed = list(docs)
    changed[40] = replace(changed[40], text="Insulin dose in renal failure is lowered. " + changed[40].text)
    changed.pop(90)  # removed: every later row moves up
    changed.insert(3, Document("new", "A new document", "Metformin is a new first-line therapy. It works."))
    stats = build_index(changed, tmp_path / "inc", embedder, **HNSW)  # type: ignore[arg-type]
    assert (stats.changed, stats.removed, stats.added) == (1, 1, 1)
    assert stats.vectors_written == "patched" and len(seen) == 1

    new_build = resolve_build(tmp_path / "inc")
    assert new_build is not None and new_build != old_build
    new_rows = chunk_rows(new_build)
    src = seen[0]
    added = {new_rows[j][0] for j in np.flatnonzero(src < 0).tolist()}
    kept = set(src[src >= 0].tolist())
    removed = {old_rows[r][0] for r in set(old_rows) - kept}
    assert added == {"d40", "new"} and removed == {"d40", "d90"}  # only those documents' rows
    assert stats.rows_added == int(np.sum(src < 0)) <= stats.chunks_embedded
    assert stats.rows_removed == len(old_rows) - len(kept)
    assert all(old_rows[int(src[j])][1] == new_rows[j][1] for j in np.flatnonzero(src >= 0).tolist())

    # the same corpus built from scratch: the same rows and vectors, so exact search gives identical
    # results, and the patched graph's search is within recall 0.95 of it
    full = build_index(changed, tmp_path / "full", embedder, **HNSW)  # type: ignore[arg-type]
    assert full.vectors_written == "full"
    assert_same_index(tmp_path / "inc", tmp_path / "full")
    index = load_index(tmp_path / "full")
    rng = np.random.default_rng(0)
    picks = rng.choice(index.size, size=60, replace=False)
    queries = index.vectors.reconstruct_batch(picks) + rng.normal(0, 0.05, (60, 32)).astype(np.float32)
    index.close()
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    inc_exact, inc_graph = exact_and_graph(tmp_path / "inc", queries)
    full_exact, full_graph = exact_and_graph(tmp_path / "full", queries)
    assert inc_exact == full_exact

    def recall(got: list[list[int]]) -> float:
        return sum(len(set(g) & set(w)) for g, w in zip(got, full_exact, strict=True)) / (10 * len(full_exact))

    assert recall(inc_graph) >= 0.95 and recall(full_graph) >= 0.95


def test_hnsw_patches_until_the_share_then_rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.vectors as index_mod

    docs = synthetic(60)
    embedder = load_embedder("hash:32")
    build_index(docs, tmp_path / "idx", embedder, **HNSW)  # type: ignore[arg-type]
    docs[5] = replace(docs[5], text=docs[5].text + " Fever.")
    first = build_index(docs, tmp_path / "idx", embedder, **HNSW)  # type: ignore[arg-type]
    assert first.vectors_written == "patched"
    patched = load_index(tmp_path / "idx").manifest["faiss_params"]["patched_rows"]
    assert patched == first.rows_added + first.rows_removed > 0
    # the rows patched since the last full build add up; past the share the graph is built afresh
    monkeypatch.setattr(index_mod, "HNSW_PATCH_SHARE", (patched + 0.5) / first.chunks)
    docs[6] = replace(docs[6], text=docs[6].text + " Fever.")
    second = build_index(docs, tmp_path / "idx", embedder, **HNSW)  # type: ignore[arg-type]
    assert second.vectors_written == "full" and second.chunks_embedded >= 1
    assert load_index(tmp_path / "idx").manifest["faiss_params"]["patched_rows"] == 0
    docs[7] = replace(docs[7], text=docs[7].text + " Fever.")
    forced = build_index(docs, tmp_path / "idx", embedder, force=True, **HNSW)  # type: ignore[arg-type]
    assert forced.vectors_written == "full"


def test_damaged_previous_hnsw_is_not_reused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from bot.vectors import read_previous

    docs = synthetic(60)
    embedder = load_embedder("hash:32")
    first = build_index(docs, tmp_path / "idx", embedder, **HNSW)  # type: ignore[arg-type]
    build = resolve_build(tmp_path / "idx")
    assert build is not None
    path = build / "vectors.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the graph
    path.write_bytes(bytes(data))
    with caplog.at_level("WARNING"):
        assert read_previous(tmp_path / "idx", "hash:32", 32) is None  # checked on the very bytes it reads
    assert "checksum" in caplog.text
    caplog.clear()
    docs[5] = replace(docs[5], text=docs[5].text + " Fever.")
    with caplog.at_level("WARNING"):
        stats = build_index(docs, tmp_path / "idx", embedder, **HNSW)  # type: ignore[arg-type]
    assert "damaged" in caplog.text and "rebuilding" in caplog.text
    assert stats.vectors_written == "full" and stats.chunks_reused == 0 and first.chunks_embedded > 0
    assert resolve_build(tmp_path / "idx") != build
    full = build_index(docs, tmp_path / "full", embedder, **HNSW)  # type: ignore[arg-type]
    assert full.chunks == stats.chunks
    assert_same_index(tmp_path / "idx", tmp_path / "full")


def test_patch_hnsw_removes_the_entry_point_and_inserts_rows() -> None:
    import faiss

    from bot.vectors import patch_hnsw

    rng = np.random.default_rng(1)
    xb = rng.standard_normal((1600, 32)).astype(np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    old = faiss.IndexHNSWFlat(32, 32, faiss.METRIC_INNER_PRODUCT)
    old.add(xb[:1500])
    entry = int(old.hnsw.entry_point)
    gone = set(rng.choice(1500, size=100, replace=False).tolist()) | {entry}
    kept = [r for r in range(1500) if r not in gone]
    src = np.array(kept[:700] + [-1] * 100 + kept[700:], dtype=np.int64)  # 100 new rows in the middle
    matrix = np.concatenate([xb[kept[:700]], xb[1500:], xb[kept[700:]]])
    index, patch = patch_hnsw(old, src, matrix)
    assert (patch.kept, patch.removed, patch.added) == (len(kept), len(gone), 100) and patch.repaired > 0
    assert index.ntotal == len(matrix) and np.array_equal(index.reconstruct_n(0, index.ntotal), matrix)
    exact = faiss.IndexFlatIP(32)
    exact.add(matrix)
    queries = matrix[::7] + rng.normal(0, 0.05, (len(matrix[::7]), 32)).astype(np.float32)
    _, want = exact.search(queries, 10)
    _, got = index.search(queries, 10)
    assert sum(len(set(a) & set(b)) for a, b in zip(want.tolist(), got.tolist(), strict=True)) / want.size >= 0.95
    again = faiss.deserialize_index(faiss.serialize_index(index))
    assert np.array_equal(again.search(queries, 10)[1], got)


def _three_removed_and_100_inserted(
    seed: int, n_old: int, at: int, *, removed: set[int]
) -> tuple[np.ndarray, Any, np.ndarray, np.ndarray]:
    """An HNSW graph of `n_old` random vectors, and a patch of it: the rows `removed` and the entry point
    out, 100 new rows inserted after the first `at` kept ones. Returns every vector, the old graph, each new
    row's old row (-1: inserted) and the new rows' matrix."""
    import faiss

    rng = np.random.default_rng(seed)
    xb = rng.standard_normal((n_old + 100, 16)).astype(np.float32)
    old = faiss.IndexHNSWFlat(16, 8, faiss.METRIC_INNER_PRODUCT)
    old.add(xb[:n_old])
    kept = [r for r in range(n_old) if r not in removed | {int(old.hnsw.entry_point)}]
    src = np.array(kept[:at] + [-1] * 100 + kept[at:], dtype=np.int64)
    matrix = np.concatenate([xb[kept[:at]], xb[n_old:], xb[kept[at:]]])
    return xb, old, src, matrix


def test_patch_hnsw_masks_the_few_removed_lists_as_the_index_array_takes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept nodes in their old order and few removed: their lists are masked out of the old array instead of
    gathered by an index over every link; the patched graph is byte for byte the same."""
    import faiss

    import bot.vectors as vectors_mod

    xb, old, src, matrix = _three_removed_and_100_inserted(2, 800, 300, removed={3, 400})
    masked = faiss.serialize_index(vectors_mod.patch_hnsw(old, src, matrix)[0])
    monkeypatch.setattr(vectors_mod, "MASK_MAX_REMOVED", -1)
    gathered = faiss.serialize_index(vectors_mod.patch_hnsw(old, src, matrix)[0])
    assert np.array_equal(masked, gathered)


def test_patch_hnsw_from_row_vectors_equals_it_from_the_matrix() -> None:
    """A build hands `patch_hnsw` its rows as `RowVectors` (the previous vectors read in place, only the new
    rows' vectors apart), not as a matrix: the patched index is byte for byte the one from the matrix, and
    its storage is the matrix in row order."""
    import faiss

    from bot.vectors import RowVectors, patch_hnsw

    xb, old, src, matrix = _three_removed_and_100_inserted(3, 900, 400, removed={5, 450})
    old_view = faiss.rev_swig_ptr(faiss.downcast_index(old.storage).get_xb(), 900 * 16).reshape(900, 16)
    rows = RowVectors(old_view, src, {400 + k: xb[900 + k] for k in range(100)}, 16)
    assert np.array_equal(rows.array(), matrix)
    from_rows, patch = patch_hnsw(old, src, rows)
    from_matrix, _ = patch_hnsw(old, src, matrix)
    assert np.array_equal(faiss.serialize_index(from_rows), faiss.serialize_index(from_matrix))
    assert np.array_equal(from_rows.reconstruct_n(0, from_rows.ntotal), matrix)
    assert (patch.kept, patch.added) == (int((src >= 0).sum()), 100)
    assert np.array_equal(old.reconstruct_n(0, 900), xb[:900])  # the previous index is left as it was


def test_the_vector_file_is_read_as_it_is_verified(tmp_path: Path) -> None:
    """`check_files(…, load=…)` reads the vector file by its loader while hashing it: what the loader made is
    handed over only when every file verified; a flipped byte hands over nothing."""
    import faiss

    from bot.index import IndexCorrupt, check_files, read_manifest
    from bot.vectors import read_faiss

    build_index(synthetic(60), tmp_path / "idx", load_embedder("hash:32"), **HNSW)  # type: ignore[arg-type]
    build = resolve_build(tmp_path / "idx")
    assert build is not None
    manifest = read_manifest(build)
    loaded: dict = {"vectors.faiss": read_faiss}
    check_files(build, manifest, load=loaded)
    want = faiss.read_index(str(build / "vectors.faiss"))
    assert np.array_equal(faiss.serialize_index(loaded["vectors.faiss"]), faiss.serialize_index(want))
    assert build_mod.damaged(build, load=(again := {"vectors.faiss": read_faiss})) is None
    assert again["vectors.faiss"] is not None
    # a loader that fails: the file is still hashed (and verifies), nothing is made of it
    failing: dict = {"vectors.faiss": lambda read: 1 / 0}
    check_files(build, manifest, load=failing)
    assert failing == {"vectors.faiss": None}
    path = build / "vectors.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    broken: dict = {"vectors.faiss": read_faiss}
    with pytest.raises(IndexCorrupt):
        check_files(build, manifest, load=broken)
    assert broken == {}
    assert build_mod.damaged(build, load=(none := {"vectors.faiss": read_faiss})) is not None and none == {}


def test_sealer_gives_the_digests_file_digests_gives(tmp_path: Path) -> None:
    """The new build's files are hashed and flushed in the background as each is finished; the manifest's
    checksums are those `file_digests` computes, and a file that cannot be read fails the build."""
    from bot.index import Sealer, file_digests

    build_index(synthetic(30), tmp_path / "idx", load_embedder("hash:32"), **COMMON)  # type: ignore[arg-type]
    build = resolve_build(tmp_path / "idx")
    assert build is not None
    names = sorted(f.relative_to(build).as_posix() for f in build.rglob("*") if f.is_file())
    manifest = json.loads((build / "manifest.json").read_text())
    assert set(manifest["files"]) == set(names) - {"manifest.json", "manifest.sha256"}
    assert manifest["files"] == file_digests(build, sorted(manifest["files"]))
    sealer = Sealer(build)
    try:
        sealer.add("vectors.faiss")
        sealer.add_tree("bm25")
        assert sealer.digests(names) == file_digests(build, names)
        sealer.flush("manifest.json")
        with pytest.raises(FileNotFoundError):
            sealer.digests(["no-such-file"])
    finally:
        sealer.close()
