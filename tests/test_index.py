"""Index round trip with the real model, incremental rebuilds, atomic swap and clear load errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.build import NoSpaceError, build_index
from bot.cli import do_index
from bot.config import Settings
from bot.embedding import load_embedder
from bot.engine import Engine
from bot.index import IndexCorrupt, IndexMismatch, IndexMissing, load_index, resolve_build, write_manifest
from bot.ingest import load_corpus
from bot.search import Searcher
from tests.conftest import SEED_QUESTION, make_corpus, make_settings


def test_round_trip_real_model(built: Settings) -> None:
    index = load_index(built.index, model=built.model)
    m = index.manifest
    assert m["model"] == "all-MiniLM-L6-v2" and m["dimension"] == 384
    assert m["counts"]["documents"] == 5 and m["counts"]["chunks"] == index.size > 5
    assert set(m["kinds"]) == {"guideline", "drug_label", "research", "other"}
    assert {"size", "overlap"} <= set(m["chunking"]) and m["corpus_fingerprint"]
    for name in ("manifest.json", "vectors.faiss", "chunks.sqlite", "bm25"):
        assert (index.path / name).exists()
    assert not list(index.path.rglob("*.pkl")) and not list(index.path.rglob("*.pickle"))

    vectors = index.vectors.reconstruct_n(0, index.size)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)  # normalised

    searcher = Searcher(index, load_embedder(built.model))
    cands = searcher.candidates("Reye syndrome in children taking aspirin")
    rows, _ = searcher.rank(cands, "final")
    top = index.chunks([int(rows[0])])[int(rows[0])]
    assert top.doc_id == "aspirin"
    doc = index.document(top.doc_id)
    assert doc is not None and doc.text[top.start : top.end] == top.text

    rows, _ = searcher.rank(searcher.candidates("thiazide diuretics", kinds=["guideline"]), "bm25")
    assert {index.chunks([int(r)])[int(r)].kind for r in rows} == {"guideline"}


def test_incremental_rebuild_reembeds_only_changed_chunks(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, model="hash:64", cache_dir=None)
    make_corpus(settings.corpus)
    first = do_index(settings, progress=False)
    assert first.chunks_embedded == first.chunks and first.added == 5

    again = do_index(settings, progress=False)
    assert again.up_to_date and again.chunks_embedded == 0

    doc = settings.corpus / "hypertension.txt"
    doc.write_text(doc.read_text().replace("below 130/80 mmHg", "below 120/80 mmHg"))
    (settings.corpus / "aspirin.html").unlink()
    third = do_index(settings, progress=False)
    assert (third.added, third.changed, third.removed, third.unchanged) == (0, 1, 1, 3)
    assert 1 <= third.chunks_embedded <= 2 and third.chunks_reused == third.chunks - third.chunks_embedded
    assert load_index(settings.index).manifest["counts"]["documents"] == 4


def test_vector_cache_is_shared_between_index_dirs(tmp_path: Path) -> None:
    a = make_settings(tmp_path, model="hash:64", index=tmp_path / "a")
    make_corpus(a.corpus)
    assert do_index(a, progress=False).chunks_embedded > 0
    b = make_settings(tmp_path, model="hash:64", index=tmp_path / "b")
    assert do_index(b, progress=False).chunks_embedded == 0


def test_failed_build_leaves_previous_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path, model="hash:64")
    make_corpus(settings.corpus)
    do_index(settings, progress=False)
    before = resolve_build(settings.index)

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bot.build.write_chunk_store", boom)
    (settings.corpus / "new.md").write_text("A new document about gout and allopurinol dosing.")
    with pytest.raises(NoSpaceError, match="no space left on device while writing chunks.sqlite of the new index"):
        do_index(settings, progress=False)
    assert resolve_build(settings.index) == before
    assert not list((settings.index / "builds").glob(".tmp-*"))
    assert Engine.load(settings).ask("thiazide diuretics first-line").answered


def test_full_disk_at_the_swap_leaves_previous_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new build is complete but the link that would swap it in cannot be made: the old one stays live
    and the unused new build is removed (it would only hold on to the space that ran out)."""
    settings = make_settings(tmp_path, model="hash:64")
    make_corpus(settings.corpus)
    do_index(settings, progress=False)
    before = resolve_build(settings.index)

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(args[1]))

    monkeypatch.setattr("bot.build.os.symlink", no_space)
    (settings.corpus / "new.md").write_text("A new document about gout and allopurinol dosing.")
    with pytest.raises(NoSpaceError, match="no space left on device while writing the link current in "):
        do_index(settings, progress=False)
    monkeypatch.undo()
    assert resolve_build(settings.index) == before
    assert [p for p in (settings.index / "builds").iterdir()] == [before]
    assert Engine.load(settings).ask("thiazide diuretics first-line").answered


def test_leftover_temp_dirs_are_cleaned(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, model="hash:64")
    make_corpus(settings.corpus)
    leftover = settings.index / "builds" / ".tmp-killed"
    leftover.mkdir(parents=True)
    (leftover / "vectors.faiss").write_bytes(b"half")
    do_index(settings, progress=False)
    assert not leftover.exists()


def _built_hash_index(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path, model="hash:64")
    make_corpus(settings.corpus)
    do_index(settings, progress=False)
    return settings


def test_missing_index_error_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(IndexMissing, match="bot index"):
        load_index(tmp_path / "nothing")


def test_model_mismatch_error_names_the_fix(tmp_path: Path) -> None:
    settings = _built_hash_index(tmp_path)
    with pytest.raises(IndexMismatch, match=r"rebuild with `bot index --model all-MiniLM-L6-v2`"):
        load_index(settings.index, model="all-MiniLM-L6-v2")


@pytest.mark.parametrize("victim", ["vectors.faiss", "chunks.sqlite", "manifest.json"])
def test_corrupt_files_give_clear_errors(tmp_path: Path, victim: str) -> None:
    settings = _built_hash_index(tmp_path)
    build = resolve_build(settings.index)
    assert build is not None
    path = build / victim
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises((IndexCorrupt, IndexMismatch), match="bot index"):
        load_index(settings.index, model="hash:64")


def test_format_version_mismatch(tmp_path: Path) -> None:
    settings = _built_hash_index(tmp_path)
    build = resolve_build(settings.index)
    assert build is not None
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["format_version"] = 999
    write_manifest(build, manifest)
    with pytest.raises(IndexMismatch, match="format"):
        load_index(settings.index)


def test_index_dir_may_name_a_build(tmp_path: Path) -> None:
    settings = _built_hash_index(tmp_path)
    build = resolve_build(settings.index)
    assert build is not None
    copy = tmp_path / "copied"
    shutil.copytree(build, copy)
    assert load_index(copy).size == load_index(settings.index).size


def test_build_index_api_with_embedder_object(tmp_path: Path) -> None:
    report = load_corpus(make_corpus(tmp_path / "c"))
    stats = build_index(report.documents, tmp_path / "idx", load_embedder("hash:32"), model="hash:32",
                        chunk_size=300, chunk_overlap=0, progress=False)  # fmt: skip
    assert stats.chunks > 5 and load_index(tmp_path / "idx").manifest["chunking"]["size"] == 300
    assert (
        Engine.load(make_settings(tmp_path, index=tmp_path / "idx", model="hash:32", min_score=0.0))
        .ask(SEED_QUESTION)
        .answered
    )


def test_the_document_bm25_is_built_by_bot_index_and_scores_as_the_in_memory_one(built) -> None:  # type: ignore[no-untyped-def]
    """`bot index` writes the whole-document BM25 (bm25_doc/, covered by the manifest) that the rankings
    read, so a server does not build it at start; it scores exactly as the one built from the chunk store."""
    from bot.index import DOC_BM25, load_index, read_manifest, resolve_build
    from bot.search import document_lexical

    build = resolve_build(built.index)
    assert build is not None and (build / DOC_BM25).is_dir()
    assert any(name.startswith(f"{DOC_BM25}/") for name in read_manifest(build)["files"])
    index = load_index(built.index)
    try:
        assert index.doc_lexical is not None and index.doc_lexical.size == len(index.doc_ids)
        memory = document_lexical(index)
        assert memory is not None
        for question in ("How is calcinosis cutis treated in dermatomyositis?", "metformin dose"):
            stored, in_memory = index.doc_lexical.scores(question), memory.scores(question)
            assert stored is not None and in_memory is not None
            np.testing.assert_allclose(stored, in_memory, rtol=1e-6)
        assert index.doc_lexical.scores("zzz") is None and memory.scores("zzz") is None
    finally:
        index.close()
