"""The focus lexicon and the chunk rows' question types are computed by `bot index` and stored in the build
(`shapes/`): what a server reads at start equals what it would compute from the chunk store, after a full
build and after an incremental one; a build without them, or with shapes made under other question types or
that do not fit, gets them computed at load."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import bot.shapes as shapes_mod
from bot.build import build_index
from bot.documents import Document
from bot.embedding import load_embedder
from bot.index import load_index, read_manifest, resolve_build
from bot.search import question_shapes
from bot.shapes import SHAPES, Shapes, from_store, read

COMMON = {"model": "hash:32", "chunk_size": 300, "chunk_overlap": 1, "progress": False}


def corpus() -> list[Document]:
    """FAQ-style pages ("Topic - Question ?", a `question` in the metadata), headed sections, a paper."""
    docs = [
        Document(
            f"faq{i}",
            f"{topic} - {question}",
            f"{question} {topic} is described here. It has several features in adults and children.",
            kind="consumer_health",
            meta={"question": question},
        )
        for i, (topic, question) in enumerate(
            [
                ("Dermatomyositis", "What causes Dermatomyositis ?"),
                ("Dermatomyositis", "What are the treatments for Dermatomyositis ?"),
                ("Calcinosis cutis", "What are the symptoms of Calcinosis cutis ?"),
                ("Polymyositis", "Is Polymyositis inherited ?"),
            ]
        )
    ]
    docs.append(
        Document(
            "label",
            "Metformin",
            "# Dosage\n\nThe usual starting dose is 500 mg twice a day.\n\n# Warnings\n\nLactic acidosis is rare.",
            kind="drug_label",
        )
    )
    docs.append(
        Document(
            "paper",
            "A randomised trial of aspirin after stroke in older adults in three countries",
            "Aspirin lowered the risk of a second stroke. Bleeding was more common.",
            kind="research",
        )  # fmt: skip
    )
    return docs


def stored_and_computed(root: Path) -> tuple[Shapes | None, Shapes]:
    index = load_index(root)
    try:
        stored = read(index.path, index.manifest, index.size, index.doc_ids)
        return stored, from_store(index.db, index.doc_ids)
    finally:
        index.close()


def assert_same(a: Shapes | None, b: Shapes) -> None:
    assert a is not None
    assert a.docs == b.docs
    assert a.rows.dtype == b.rows.dtype and np.array_equal(a.rows, b.rows)


def test_a_build_stores_its_shapes(tmp_path: Path) -> None:
    build_index(corpus(), tmp_path / "ix", load_embedder("hash:32"), **COMMON)  # type: ignore[arg-type]
    stored, computed = stored_and_computed(tmp_path / "ix")
    assert_same(stored, computed)
    lexicon = computed.lexicon()
    assert "dermatomyos" in lexicon and len(lexicon["dermatomyos"]) == 2  # two pages on one topic
    assert not any(key.startswith("random") for key in lexicon)  # a paper's long title is no focus
    assert (computed.rows != 0).any()  # the FAQ questions and the headings have types
    index = load_index(tmp_path / "ix")
    try:
        assert question_shapes(index)[0] == lexicon
        assert np.array_equal(question_shapes(index)[1], computed.rows)
    finally:
        index.close()


@pytest.mark.parametrize("previous_has_shapes", [True, False], ids=["reused", "read back from the store"])
def test_an_incremental_build_stores_the_same_shapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, previous_has_shapes: bool
) -> None:
    embedder = load_embedder("hash:32")
    docs = corpus()
    build_index(docs, tmp_path / "ix", embedder, **COMMON)  # type: ignore[arg-type]
    changed = list(docs)
    changed[2] = replace(changed[2], title="Calcinosis - How to diagnose Calcinosis ?", meta={})  # type from title
    changed.pop(3)
    changed.append(Document("new", "Gout", "# Treatment\n\nColchicine treats a gout flare.", kind="consumer_health"))
    typed: list[str] = []
    document = shapes_mod.Typer.document

    def counting(self: shapes_mod.Typer, title: str, meta: dict) -> int | None:  # type: ignore[type-arg]
        typed.append(title)
        return document(self, title, meta)

    monkeypatch.setattr(shapes_mod.Typer, "document", counting)
    if not previous_has_shapes:  # as from a build made before shapes were stored
        monkeypatch.setattr("bot.build.read_shapes", lambda *a, **k: None)
    build_index(changed, tmp_path / "ix", embedder, **COMMON)  # type: ignore[arg-type]
    if previous_has_shapes:  # only the changed and the new document were typed again
        assert sorted(typed) == ["Calcinosis - How to diagnose Calcinosis ?", "Gout"]
    monkeypatch.undo()
    stored, computed = stored_and_computed(tmp_path / "ix")
    assert_same(stored, computed)
    build_index(changed, tmp_path / "full", embedder, **COMMON)  # type: ignore[arg-type]
    assert_same(stored_and_computed(tmp_path / "full")[0], computed)


def test_shapes_of_other_question_types_or_that_do_not_fit_are_computed(tmp_path: Path) -> None:
    build_index(corpus(), tmp_path / "ix", load_embedder("hash:32"), **COMMON)  # type: ignore[arg-type]
    build = resolve_build(tmp_path / "ix")
    assert build is not None
    manifest = read_manifest(build)
    index = load_index(tmp_path / "ix")
    try:
        n, ids = index.size, index.doc_ids
        assert read(build, manifest, n, ids) is not None
        assert read(build, {**manifest, "shapes": {"version": "other types"}}, n, ids) is None
        assert read(build, {k: v for k, v in manifest.items() if k != "shapes"}, n, ids) is None  # an older build
        assert read(build, manifest, n + 1, ids) is None
        assert read(build, manifest, n, list(reversed(ids))) is None
        (build / SHAPES / "docs.json").write_text(json.dumps({"not": "a list"}))
        assert read(build, manifest, n, ids) is None
        lexicon, rows = question_shapes(index)  # computed from the chunk store instead
        assert lexicon == from_store(index.db, ids).lexicon() and len(rows) == n
    finally:
        index.close()
