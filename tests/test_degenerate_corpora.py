"""Degenerate corpora: a title and no body, only whitespace, punctuation or stop words, one word, an empty file
next to a good one. `bot index` either builds a working index or fails with one clear line ("no readable
documents"), naming each skipped file in its summary, and a failed rebuild leaves the current index serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.build import NO_BODY, NO_WORDS, BuildError, build_index, build_lexical, damaged, indexable
from bot.chunking import chunk_document, has_body
from bot.cli import do_index
from bot.embedding import load_embedder
from bot.index import load_index, resolve_build
from bot.lexical import Lexical, has_words, tokenize
from bot.sources import make_document

from .conftest import make_settings, tiny_pdf

GOOD = "Aspirin reduces fever in adults.\n"
TITLE_ONLY = "no text under them"  # the end of NO_BODY
NO_WORD = "no searchable word"  # in NO_WORDS
HTML_TITLE_ONLY = "<html><head><title>Only a title</title></head><body></body></html>"

# (files of the corpus, documents indexed (0: "no readable documents"), a reason each skipped file is given)
CASES: dict[str, tuple[dict[str, str | bytes], int, list[str]]] = {
    "markdown title only": ({"a.md": "# Title\n"}, 0, [TITLE_ONLY]),
    "markdown headings only": ({"a.md": "# Title\n\n## Dosing\n\n## Warnings\n"}, 0, [TITLE_ONLY]),
    "front matter title only": ({"a.md": "---\ntitle: Aspirin\n---\n# Aspirin\n"}, 0, [TITLE_ONLY]),
    "jsonl title and empty text": ({"a.jsonl": '{"id": "x", "title": "A title", "text": ""}\n'}, 0, ["no text"]),
    "html title only": ({"a.html": HTML_TITLE_ONLY}, 0, ["no text"]),
    "pdf empty page": ({"a.pdf": tiny_pdf([])}, 0, ["no text layer"]),
    "whitespace only": ({"a.md": "   \n\n \t\n", "b.txt": "\n \n"}, 0, ["no text", "no text"]),
    "punctuation only": ({"a.md": "... !!! ??? ;;; --\n"}, 0, [NO_WORD]),
    "stop words only": ({"a.md": "the of and\n"}, 0, [NO_WORD]),
    "single letters only": ({"a.md": "a b c. d e!\n"}, 0, [NO_WORD]),
    "one word": ({"a.md": "aspirin\n"}, 1, []),
    "one stop word": ({"a.md": "the\n"}, 0, [NO_WORD]),
    "empty file next to a good one": ({"empty.md": "", "good.md": GOOD}, 1, ["empty file"]),
    "title only next to a good one": ({"title.md": "# Title\n", "good.md": GOOD}, 1, [TITLE_ONLY]),
    "stop words next to a good one": ({"stop.md": "the of and\n", "good.md": GOOD}, 1, [NO_WORD]),
    "punctuation with a title": ({"a.md": "---\ntitle: Aspirin dosing\n---\n... ;;;\n"}, 1, []),
}


def write_corpus(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content)
    return folder


@pytest.mark.parametrize(("files", "indexed", "reasons"), list(CASES.values()), ids=list(CASES))
def test_degenerate_corpus_builds_or_fails_with_one_line(
    tmp_path: Path, files: dict[str, str | bytes], indexed: int, reasons: list[str]
) -> None:
    write_corpus(tmp_path / "corpus", files)
    settings = make_settings(tmp_path, model="hash:64")
    if indexed == 0:
        with pytest.raises(BuildError, match=r"^no readable documents in .*\(\d+ problems\)$") as caught:
            do_index(settings, progress=False)
        assert "\n" not in str(caught.value)
        assert resolve_build(settings.index) is None  # nothing half-built was swapped in
        return
    stats = do_index(settings, progress=False)
    assert stats.documents == indexed and stats.chunks >= indexed
    assert len(stats.problems) == len(reasons)
    for problem, reason in zip(stats.problems, reasons, strict=True):
        assert reason in problem.reason and Path(problem.path).name in files
    build = resolve_build(settings.index)
    assert build is not None and damaged(build) is None
    index = load_index(settings.index)
    try:
        assert index.size == stats.chunks == index.lexical.size
        rows, _ = index.lexical.search("aspirin", 5)
        assert rows.tolist() == [0]  # the good document is there and BM25 finds it
    finally:
        index.close()


def test_degenerate_documents_are_screened_with_reasons() -> None:
    docs = [
        make_document("title", "# Title\n", title="Title"),
        make_document("stop", "the of and\n"),
        make_document("punct", "... !!! ???\n"),
        make_document("good", GOOD),
        make_document("titled", "... ;;;\n", title="Aspirin dosing"),  # the title gives BM25 a word
    ]
    kept, skipped = indexable(docs)
    assert [d.id for d in kept] == ["good", "titled"]
    assert [(p.path, p.reason) for p in skipped] == [("title", NO_BODY), ("stop", NO_WORDS), ("punct", NO_WORDS)]
    for doc in docs:  # has_body says exactly whether the chunker makes a chunk
        assert has_body(doc) == bool(chunk_document(doc))


@pytest.mark.parametrize(
    "text", ["", "the of and", "... !!!", "a b c", "aspirin", "Aspirin, the FEVER drug.", "x y1", "İs", "Straße"]
)
def test_has_words_is_tokenize_not_empty(text: str) -> None:
    assert has_words(text) == bool(tokenize(text))


@pytest.mark.parametrize(
    "texts", [[], [""], ["the of and"], ["...", "!!!", "the"], ["the of and", "aspirin fever"], ["", "aspirin"]]
)
def test_bm25_of_rows_without_words(tmp_path: Path, texts: list[str]) -> None:
    """bm25s fails on an empty vocabulary ("max() arg is an empty sequence"); both BM25 builders give an
    index of as many rows that finds nothing, which saves and loads."""
    ref = Lexical.build(texts)
    fast = build_lexical([" ".join(tokenize(t)) for t in texts])
    for lex in (ref, fast):
        assert lex.size == len(texts)
        lex.save(tmp_path / "bm25")
        loaded = Lexical.load(tmp_path / "bm25")
        assert loaded.size == len(texts) and loaded.vocab == lex.vocab
        rows, scores = loaded.search("aspirin fever", 3)
        assert rows.tolist() == [i for i, t in enumerate(texts) if "aspirin" in t]
        assert len(scores) == len(rows) and loaded.idf("aspirin") >= 0.0
    assert fast.vocab == ref.vocab
    for key in ("data", "indices", "indptr"):
        a, b = np.asarray(fast.retriever.scores[key]), np.asarray(ref.retriever.scores[key])
        assert a.dtype == b.dtype and np.array_equal(a, b), key


def test_index_whose_chunks_have_no_bm25_word_builds_and_loads(tmp_path: Path) -> None:
    """The document has a word ("aspirin", a heading) but its one chunk has none (its heading is "The", its
    title only its id): the chunk BM25 has no vocabulary at all, which used to crash bm25s."""
    doc = make_document("x", "# Aspirin\n# The\n\nthe and of\n", title="x")
    assert indexable([doc])[0] == [doc]
    stats = build_index([doc], tmp_path / "idx", load_embedder("hash:64"), model="hash:64", chunk_size=300,
                        chunk_overlap=0, progress=False)  # fmt: skip
    assert stats.chunks == 1
    index = load_index(tmp_path / "idx")
    try:
        assert index.lexical.size == 1 and index.lexical.vocab == {}
        assert index.lexical.search("the aspirin", 5)[0].tolist() == []
        assert index.doc_lexical is not None and index.doc_lexical.search("aspirin", 5)[0].tolist() == [0]
    finally:
        index.close()


def test_build_index_refuses_only_degenerate_documents_before_writing(tmp_path: Path) -> None:
    docs = [make_document("t", "# Title\n", title="Title"), make_document("s", "the of and\n")]
    with pytest.raises(BuildError, match=r"^no readable documents \(2 problems\); the current index is unchanged$"):
        build_index(docs, tmp_path / "idx", load_embedder("hash:64"), model="hash:64", chunk_size=300,
                    chunk_overlap=0, progress=False)  # fmt: skip
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize(
    "content",
    ["", "   \n\t\n", "# Aspirin\n", "the of and\n", "... ;;; !!!\n"],
    ids=["empty", "whitespace", "title only", "stop words", "punctuation"],
)
def test_rebuild_of_a_corpus_gone_degenerate_keeps_the_current_index(tmp_path: Path, content: str) -> None:
    corpus = write_corpus(tmp_path / "corpus", {"a.md": "# Aspirin\n\n" + GOOD})
    settings = make_settings(tmp_path, model="hash:64")
    do_index(settings, progress=False)
    before = resolve_build(settings.index)
    assert before is not None
    (corpus / "a.md").write_text(content)
    with pytest.raises(BuildError, match="^no readable documents"):
        do_index(settings, progress=False)
    assert resolve_build(settings.index) == before and damaged(before) is None
    assert [p.name for p in (settings.index / "builds").iterdir()] == [before.name]  # no leftover
    index = load_index(settings.index)
    try:
        assert index.lexical.search("aspirin fever", 5)[0].tolist() == [0]  # still serving the old text
    finally:
        index.close()


def test_rebuild_where_one_document_goes_title_only_drops_it_and_reports_it(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", {"a.md": "# Aspirin\n\n" + GOOD, "b.md": "Metformin lowers glucose.\n"})
    settings = make_settings(tmp_path, model="hash:64")
    assert do_index(settings, progress=False).documents == 2
    (corpus / "b.md").write_text("# Metformin\n")
    stats = do_index(settings, progress=False)
    assert (stats.documents, stats.removed, stats.unchanged) == (1, 1, 1)
    assert [(Path(p.path).name, p.reason) for p in stats.problems] == [("b.md", NO_BODY)]
    again = do_index(settings, progress=False)  # up to date, and the skipped file is still reported
    assert again.up_to_date and [Path(p.path).name for p in again.problems] == ["b.md"]
    index = load_index(settings.index)
    try:
        assert index.lexical.search("metformin", 5)[0].tolist() == []
        assert index.lexical.search("aspirin", 5)[0].tolist() == [0]
    finally:
        index.close()


def run_bot(tmp_path: Path, corpus: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BOT_CACHE_DIR": str(tmp_path / "cache"), "BOT_MODEL": "hash:64"}
    argv = [sys.executable, "-m", "bot.cli", "index", "--corpus", str(corpus), "--index", str(tmp_path / "idx")]
    return subprocess.run([*argv, "--no-progress", *extra], capture_output=True, text=True, env=env, timeout=120)


def test_cli_title_only_corpus_is_one_line_and_a_mixed_one_is_summarised(tmp_path: Path) -> None:
    bad = run_bot(tmp_path, write_corpus(tmp_path / "bad", {"a.md": "# Title\n"}))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: no readable documents in ")
    assert f"a.md: {NO_BODY}" in bad.stderr
    mixed = run_bot(tmp_path, write_corpus(tmp_path / "mixed", {"empty.md": "", "title.md": "# T\n", "good.md": GOOD}))
    assert mixed.returncode == 0, mixed.stderr
    assert "indexed 1 documents" in mixed.stdout and "2 problems reported" in mixed.stdout
    assert "empty.md: empty file" in mixed.stderr and f"title.md: {NO_BODY}" in mixed.stderr
    stats = json.loads(run_bot(tmp_path, tmp_path / "mixed", "--json").stdout)
    assert stats["up_to_date"] and len(stats["problems"]) == 2


@pytest.mark.parametrize(
    "text",
    ["- \n", "* \n", "\u2022\n", "1. \n", "-  \u2022  -\n", "# T\n- \n", "Dosing\nTake one.\n", "- aspirin\n",
     "  \u2022  \n", "Title\n\n\u2022\n", "...\n", "# A\n## B\n"],
)  # fmt: skip
def test_has_body_is_chunk_document_not_empty(text: str) -> None:
    doc = make_document("d", text)
    assert has_body(doc) == bool(chunk_document(doc))
