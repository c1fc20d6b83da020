"""What the learned ranking reads of every document and chunk: the focus lexicon (short document titles ->
document numbers, `bot/focus.py`) and, per chunk row, the question types its section heading, or else the
question its document answers, asks (a bit mask).

`bot index` computes them and stores them in the build (`shapes/`), so a server reads two small files at start
instead of stemming every title and typing every heading (1.3 s of the 2.1 s load at 100,000 chunks). An
incremental build takes an unchanged document's shape and rows from the previous build and computes only the
changed documents'. A build without them (made before they were stored, or under other question types: the
manifest's `shapes.version` says which) gets them computed at load, as before."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import content_hash
from .documents import Chunk, Document
from .focus import FOCUS_MAX_WORDS, QTYPE_NAMES, QTYPES, focus_key, lexicon_of, question_types, split_title

SHAPES = "shapes"  # the folder in a build
DOCS_FILE = "docs.json"  # [[document id, focus key or "", type bits], …] in the documents' row order
ROWS_FILE = "row_types.npy"  # int32, one per chunk row
# what the stored shapes depend on besides the documents: the question types and the focus rule
VERSION = content_hash(json.dumps(QTYPES, sort_keys=True), str(FOCUS_MAX_WORDS), "shapes-1")[:16]


def type_bits(types: tuple[str, ...]) -> int:
    return sum(1 << QTYPE_NAMES.index(t) for t in types if t in QTYPE_NAMES)


@dataclass
class Typer:
    """Question types of document questions and section headings, each distinct text typed once (FAQ
    questions repeat a few templates, headings repeat across documents)."""

    asked: dict[str, int] = field(default_factory=dict)
    heads: dict[str, int] = field(default_factory=dict)

    def document(self, title: str, meta: dict[str, Any]) -> int | None:
        """The types of the question a document answers: its `question` (MedQuAD), or the one its title
        asks ("Topic - Question ?"), its title taken out; None when it names none."""
        asked = meta.get("question") if "question" in meta else split_title(title)[1]
        if not isinstance(asked, str):
            return None
        template = asked.replace(title, " ") if title else asked
        bits = self.asked.get(template)
        if bits is None:
            bits = self.asked[template] = type_bits(question_types(template))
        return bits

    def heading(self, heading: str | None) -> int:
        if not heading:
            return 0
        bits = self.heads.get(heading)
        if bits is None:
            bits = self.heads[heading] = type_bits(question_types(heading))
        return bits


@dataclass
class Shapes:
    """Per document with chunks (row order): its id, focus key ("" for none) and type bits (-1: none);
    per chunk row: its type bits."""

    docs: list[tuple[str, str, int]]
    rows: np.ndarray

    def lexicon(self) -> dict[str, list[int]]:
        """The focus lexicon: focus key -> the numbers of the documents with it."""
        return lexicon_of((no, key) for no, (_doc_id, key, _bits) in enumerate(self.docs))

    def save(self, folder: Path) -> None:
        folder.mkdir()
        (folder / DOCS_FILE).write_text(json.dumps(self.docs, ensure_ascii=False), encoding="utf-8")
        np.save(folder / ROWS_FILE, self.rows.astype(np.int32), allow_pickle=False)


def row_types(heading_and_doc: Iterable[tuple[str | None, str]], doc_bits: dict[str, int], typer: Typer) -> list[int]:
    return [typer.heading(heading) or doc_bits.get(doc_id, 0) for heading, doc_id in heading_and_doc]


def from_store(db: sqlite3.Connection, doc_ids: Sequence[str]) -> Shapes:
    """The shapes of a chunk store's documents and rows (`doc_ids`: the documents with chunks, in row order)."""
    wanted = set(doc_ids)
    typer = Typer()
    of_doc: dict[str, tuple[str, int]] = {}
    for doc_id, title, meta in db.execute("SELECT id, title, meta FROM documents"):
        if doc_id in wanted:
            # only a document whose metadata names a question is parsed (most say nothing of one)
            bits = typer.document(title or "", json.loads(meta) if meta and '"question"' in meta else {})
            of_doc[doc_id] = (focus_key(title or ""), -1 if bits is None else bits)
    docs = [(d, *of_doc.get(d, ("", -1))) for d in doc_ids]
    doc_bits = {d: max(bits, 0) for d, _key, bits in docs}
    rows = row_types(db.execute("SELECT heading, doc_id FROM chunks ORDER BY row"), doc_bits, typer)
    return Shapes(docs, np.array(rows, dtype=np.int32))


def read(build: Path, manifest: dict[str, Any], rows: int, doc_ids: Sequence[str]) -> Shapes | None:
    """The shapes stored in a build (whose files verified against its manifest), or None when it has none, they
    were made under other question types, or they do not fit its rows and documents."""
    if (manifest.get("shapes") or {}).get("version") != VERSION:
        return None
    try:
        docs = json.loads((build / SHAPES / DOCS_FILE).read_text(encoding="utf-8"))
        types = np.load(build / SHAPES / ROWS_FILE, allow_pickle=False)
    except (OSError, ValueError):
        return None
    fits = (
        isinstance(docs, list)
        and types.ndim == 1
        and types.dtype == np.int32
        and len(types) == rows
        and len(docs) == len(doc_ids)
        and all(isinstance(d, list) and len(d) == 3 and d[0] == i for d, i in zip(docs, doc_ids, strict=True))
    )
    if not fits:
        return None
    return Shapes([(d[0], str(d[1]), int(d[2])) for d in docs], types)


def for_build(
    doc_order: Sequence[str],
    docs: dict[str, Document],
    unchanged: Iterable[str],
    reused_rows: Sequence[int],
    fresh: Sequence[Chunk],
    previous: Shapes | None,
) -> Shapes | None:
    """The shapes of a new build: an unchanged document's (`unchanged`), and each of its rows' (`reused_rows`:
    the row in the previous build, -1 for a fresh chunk), taken from the `previous` build's; the others computed
    from the documents and the `fresh` chunks (in row order). None when rows are reused but `previous` holds no
    shapes: then `from_store` reads them from the new chunk store."""
    if previous is None and any(r >= 0 for r in reused_rows):
        return None
    kept = set(unchanged)
    before = {doc_id: (key, bits) for doc_id, key, bits in previous.docs} if previous is not None else {}
    typer = Typer()
    out_docs: list[tuple[str, str, int]] = []
    for doc_id in doc_order:
        if doc_id in kept and doc_id in before:
            out_docs.append((doc_id, *before[doc_id]))
            continue
        doc = docs[doc_id]
        bits = typer.document(doc.title or "", doc.meta or {})
        out_docs.append((doc_id, focus_key(doc.title or ""), -1 if bits is None else bits))
    doc_bits = {d: max(bits, 0) for d, _key, bits in out_docs}
    rows = np.empty(len(reused_rows), dtype=np.int32)
    old = np.asarray(reused_rows, dtype=np.int64)
    reused = old >= 0
    if previous is not None and reused.any():
        rows[reused] = previous.rows[old[reused]]
    rows[~reused] = row_types(((c.heading, c.doc_id) for c in fresh), doc_bits, typer)
    return Shapes(out_docs, rows)
