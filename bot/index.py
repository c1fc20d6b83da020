"""The on-disk index: plain files plus a manifest, built in a temporary directory and swapped in atomically.

Layout of an index root:

    ROOT/current -> builds/20261124T101500-ab12cd   (a symlink, replaced with one atomic rename)
    ROOT/builds/<build>/manifest.json                 format version, model, dimension, chunking, counts…
    ROOT/builds/<build>/vectors.faiss                 FAISS inner-product index, row i = chunk i
    ROOT/builds/<build>/chunks.sqlite                 documents and chunks (text, offsets, sentences)
    ROOT/builds/<build>/bm25/                         bm25s matrices (.npy) and vocabulary (.json)

`--index` may also name a build directory itself (one holding manifest.json).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .documents import Chunk, Document, Part, Section, Span
from .lexical import Lexical
from .query import entity_names

log = logging.getLogger(__name__)

# The BM25 over whole documents the "final" and "learned" rankings read, written by `bot index` (an index
# built before it had one builds it in memory at load).
DOC_BM25 = "bm25_doc"
DOC_TOKEN_PREFIX = "doc:"
FORMAT_VERSION = 2  # 2: document outline (parts) and metadata, chunk section code and page
MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.sha256"
DOC_INFO_CACHE = 4096  # documents whose title and metadata an index keeps in memory for answers
FILES = ("vectors.faiss", "chunks.sqlite")


class IndexError_(RuntimeError):
    """An index that cannot be used; the message says what to do."""


class IndexMissing(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


class IndexMismatch(IndexError_):
    pass


def resolve_build(root: Path) -> Path | None:
    """The build directory an index path points at, or None when there is none yet."""
    if (root / MANIFEST).is_file():
        return root
    current = root / "current"
    if (current / MANIFEST).is_file():
        return current.resolve()
    return None


class _Counts(BaseModel):
    documents: int = Field(ge=0)
    chunks: int = Field(ge=0)


class ManifestModel(BaseModel):
    """What a build's manifest.json must hold (more keys may follow)."""

    model_config = ConfigDict(extra="allow")

    format_version: int
    model: str
    dimension: int = Field(ge=1)
    chunking: dict[str, int]
    corpus_fingerprint: str
    counts: _Counts
    kinds: dict[str, int]
    built_at: str
    files: dict[str, str]


def manifest_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(build: Path, manifest: dict[str, Any]) -> None:
    """manifest.json and manifest.sha256 (its digest): a flipped byte in the manifest is caught at load."""
    data = json.dumps(manifest, indent=2).encode("utf-8")
    (build / MANIFEST).write_bytes(data)
    (build / MANIFEST_DIGEST).write_text(manifest_digest(data) + "\n")


def read_manifest(build: Path) -> dict[str, Any]:
    """The manifest of a build, checked: its format, its digest and its schema (`IndexError_` otherwise)."""
    from pydantic import ValidationError

    try:
        data = (build / MANIFEST).read_bytes()
        manifest = json.loads(data)
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(
            f"index manifest {build / MANIFEST} is unreadable ({exc}): rebuild with `bot index`"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatch(
            f"index at {build} has format {manifest.get('format_version') if isinstance(manifest, dict) else '?'}"
            f", this bot reads format {FORMAT_VERSION}: rebuild with `bot index`"
        )
    try:
        expected = (build / MANIFEST_DIGEST).read_text().strip()
    except OSError:
        raise IndexCorrupt(
            f"index manifest digest {build / MANIFEST_DIGEST} is missing: rebuild with `bot index`"
        ) from None
    if manifest_digest(data) != expected:
        raise IndexCorrupt(f"index manifest {build / MANIFEST} is corrupt (digest differs): rebuild with `bot index`")
    try:
        ManifestModel.model_validate(manifest)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise IndexCorrupt(
            f"index manifest {build / MANIFEST} is not valid ({where}: {first['msg']}): rebuild with `bot index`"
        ) from None
    return manifest


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sections_json(sections: list[Section]) -> str:
    """A document's `sections` as the documents table holds them."""
    return json.dumps([[s.start, s.end, s.kind] for s in sections]) if sections else "[]"


def _sentences_json(spans: list[Span]) -> str:
    return json.dumps([[s.start, s.end] for s in spans])


# what json.dumps(…, ensure_ascii=False[, sort_keys=True, default=str]) writes, without building an encoder
# for every call (they are made once per document of every build)
_JSON = json.JSONEncoder(ensure_ascii=False).encode
_META_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str).encode


def parts_json(parts: list[Part]) -> str:
    return _JSON([[p.start, p.end, list(p.path), p.code, p.page] for p in parts])


def parts_from_json(raw: str) -> list[Part]:
    return [Part(a, b, tuple(path), code, page) for a, b, path, code, page in json.loads(raw)]


CHUNK_COLUMNS = 'row, doc_id, start, "end", kind, heading, hash, text, sentences, code, page'


def read_chunks(db: sqlite3.Connection, rows: list[int], *, batch: int = 500) -> dict[int, Chunk]:
    """The chunks at `rows` of a chunk store, by row (`batch` rows a query: SQLite bounds the parameters)."""
    out: dict[int, Chunk] = {}
    for i in range(0, len(rows), batch):
        part = [int(r) for r in rows[i : i + batch]]
        cur = db.execute(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE row IN ({','.join('?' * len(part))})", part)
        out.update((r[0], chunk_from_row(r)) for r in cur)
    return out


def chunk_from_row(r: tuple[Any, ...]) -> Chunk:
    row, doc_id, start, end, kind, heading, h, text, sents, code, page = r
    return Chunk(row, doc_id, start, end, text, kind, heading, [Span(a, b) for a, b in json.loads(sents)], h,
                 code, page)  # fmt: skip


def document_text(doc_id: str, title: str, text: str) -> str:
    """What the document BM25 indexes of a document: its title and text (the text alone when the title is
    only the id). `bot index` and, for an older index, `search.document_lexical` both read it here."""
    return text if title == doc_id else f"{title}\n{text}"


@dataclass
class StoreCopy:
    """What `write_chunk_store` copies as it is, row for row by SQLite, from a previous chunk store (one
    `damaged` verified) instead of serialising it again."""

    store: Path
    rows: list[tuple[int, int]]  # (new row, old row) of each chunk copied (text, sentence spans and all)
    docs: dict[str, int] = field(default_factory=dict)  # document copied (proved unchanged) -> its old rowid


def _runs(pairs: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(first new, first old, count) of each run of `pairs` ((new, old), new ascending) that both go up by one."""
    runs: list[tuple[int, int, int]] = []
    for new, old in pairs:
        if runs and runs[-1][0] + runs[-1][2] == new and runs[-1][1] + runs[-1][2] == old:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((new, old, 1))
    return runs


DOCUMENT_COLUMNS = "id, title, kind, url, date, source, text, sections, hash, parts, meta"


def write_chunk_store(
    path: Path,
    docs: list[Document],
    chunks: list[Chunk],
    doc_hashes: dict[str, str],
    *,
    copy: StoreCopy | None = None,
) -> None:
    """Documents and chunks. `chunks` are the chunks written from their objects, each at its row `id`; with
    `copy`, the chunk rows and document rows it names are copied from the previous store instead, and
    everything is inserted in row (and document) order, as a full build inserts it, so the file is the
    same page for page."""
    db = sqlite3.connect(path.resolve().as_uri(), uri=True)  # a URI connection: ATTACH below takes one too
    try:
        db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY;
            CREATE TABLE documents (id TEXT PRIMARY KEY, title TEXT NOT NULL, kind TEXT NOT NULL, url TEXT,
                date TEXT, source TEXT, text TEXT NOT NULL, sections TEXT NOT NULL, hash TEXT NOT NULL,
                parts TEXT NOT NULL, meta TEXT NOT NULL);
            CREATE TABLE chunks (row INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, start INTEGER NOT NULL,
                "end" INTEGER NOT NULL, kind TEXT NOT NULL, heading TEXT NOT NULL, hash TEXT NOT NULL,
                text TEXT NOT NULL, sentences TEXT NOT NULL, code TEXT, page INTEGER);
            """
        )
        copied_docs = copy.docs if copy is not None else {}
        doc_rows = [
            (i, (d.id, d.title, d.kind, d.url, d.date, d.source, d.text, sections_json(d.sections), doc_hashes[d.id],
                 parts_json(d.parts), _META_JSON(d.meta)))
            for i, d in enumerate(docs)
            if d.id not in copied_docs
        ]  # fmt: skip
        chunk_rows = [
            (c.id, (c.id, c.doc_id, c.start, c.end, c.kind, c.heading, c.hash, c.text, _sentences_json(c.sentences),
                    c.code, c.page))
            for c in chunks
        ]  # fmt: skip
        if copy is not None and (copy.rows or copy.docs):
            db.commit()
            db.execute("ATTACH DATABASE ? AS old", (f"{copy.store.resolve().as_uri()}?mode=ro",))
        # Rows are inserted in order, as a full build inserts them (so the file is the same page for page): the
        # written ones by executemany, the copied ones a run of consecutive old rows at a time, by a range scan
        # of the old table (no sort)
        doc_runs = _runs(sorted((i, copied_docs[d.id]) for i, d in enumerate(docs) if d.id in copied_docs))
        written = _insert_in_order(
            db, "documents", doc_rows, doc_runs,
            f"INSERT INTO main.documents SELECT {DOCUMENT_COLUMNS} FROM old.documents WHERE rowid BETWEEN ? AND ? "
            "ORDER BY rowid",
        )  # fmt: skip
        if written != len(docs):
            raise sqlite3.DatabaseError(
                f"wrote {written} of {len(docs)} documents (copying from {copy and copy.store})"
            )
        chunk_runs = _runs(copy.rows) if copy is not None else []
        columns = ", ".join(CHUNK_COLUMNS.split(", ")[1:])
        written = _insert_in_order(
            db, "chunks", chunk_rows, chunk_runs,
            f"INSERT INTO main.chunks SELECT row + ?, {columns} FROM old.chunks WHERE row BETWEEN ? AND ? ORDER BY row",
            shift=True,
        )  # fmt: skip
        total = len(chunks) + (len(copy.rows) if copy is not None else 0)
        if written != total:
            raise sqlite3.DatabaseError(f"wrote {written} of {total} chunks (copying from {copy and copy.store})")
        if copy is not None and (copy.rows or copy.docs):
            db.commit()
            db.execute("DETACH DATABASE old")
        db.execute("CREATE INDEX chunks_doc ON chunks(doc_id)")
        db.commit()
    finally:
        db.close()


def _insert_in_order(
    db: sqlite3.Connection,
    table: str,
    rows: list[tuple[int, tuple[Any, ...]]],
    runs: list[tuple[int, int, int]],
    copy_sql: str,
    *,
    shift: bool = False,
) -> int:
    """Insert `rows` ((position, values), ascending) and the `runs` (first position, first old rowid, count)
    copied by `copy_sql`, merged in position order; returns the count of rows inserted."""
    insert = f"INSERT INTO main.{table} VALUES ({','.join('?' * len(rows[0][1]))})" if rows else ""
    done, k = 0, 0
    for first, old, count in runs:
        j = k
        while j < len(rows) and rows[j][0] < first:
            j += 1
        if j > k:
            done += db.executemany(insert, (values for _, values in rows[k:j])).rowcount
        k = j
        args = (first - old, old, old + count - 1) if shift else (old, old + count - 1)
        done += db.execute(copy_sql, args).rowcount
    if k < len(rows):
        done += db.executemany(insert, (values for _, values in rows[k:])).rowcount
    return done


@dataclass(frozen=True)
class DocInfo:
    id: str
    title: str
    kind: str
    url: str | None
    date: str | None
    meta: dict[str, Any]
    length: int = 0  # characters of text


@dataclass
class Index:
    """A loaded index: vectors, BM25 and the chunk store, read-only."""

    path: Path
    manifest: dict[str, Any]
    vectors: Any  # faiss.Index
    lexical: Lexical
    db: sqlite3.Connection
    kinds: np.ndarray  # kind code per chunk row
    kind_names: list[str]
    doc_of_row: np.ndarray  # document number per chunk row
    doc_ids: list[str]
    codes: np.ndarray | None = None  # section-code number per chunk row (index into code_names; -1: none)
    code_names: list[str] = field(default_factory=list)
    entity_lexicon: dict[str, set[int]] = field(default_factory=dict)  # name -> document numbers about it
    doc_kinds: list[str] = field(default_factory=list)  # kind per document number
    doc_lexical: Lexical | None = None  # BM25 over whole documents (title and text), one row per doc number
    _info: dict[str, DocInfo] = field(default_factory=dict, repr=False)

    def code_mask(self, codes: frozenset[str] | set[str]) -> np.ndarray | None:
        """True for chunk rows in a section with one of `codes` (None when no row has a code)."""
        if self.codes is None or not codes:
            return None
        wanted = [i for i, c in enumerate(self.code_names) if c in codes]
        return np.isin(self.codes, wanted) if wanted else np.zeros(len(self.codes), dtype=bool)

    @property
    def size(self) -> int:
        return int(self.vectors.ntotal)

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    def kind_mask(self, kinds: list[str] | None) -> np.ndarray | None:
        if not kinds:
            return None
        codes = [self.kind_names.index(k) for k in kinds if k in self.kind_names]
        return np.isin(self.kinds, codes)

    def chunks(self, rows: list[int]) -> dict[int, Chunk]:
        return read_chunks(self.db, rows)

    def document(self, doc_id: str) -> Document | None:
        row = self.db.execute(
            "SELECT id, title, kind, url, date, source, text, sections, parts, meta FROM documents WHERE id = ?",
            (doc_id,),
        ).fetchone()
        if row is None:
            return None
        sections = [Section(a, b, k) for a, b, k in json.loads(row[7])]
        return Document(row[0], row[1], row[6], row[2], row[3], row[4], row[5], sections, bool(sections),
                        parts_from_json(row[8]), json.loads(row[9]))  # fmt: skip

    def doc_info(self, doc_ids: list[str]) -> dict[str, DocInfo]:
        """Title, kind, url, date and metadata of documents (what references and answer filters need),
        kept in a bounded cache (answers cite the same few documents again and again)."""
        out: dict[str, DocInfo] = {}
        missing: list[str] = []
        for doc_id in doc_ids:
            known = self._info.get(doc_id)  # one lookup: another thread may clear the cache meanwhile
            if known is None:
                missing.append(doc_id)
            else:
                out[doc_id] = known
        if missing:
            if len(self._info) + len(missing) > DOC_INFO_CACHE:
                self._info.clear()
            marks = ",".join("?" * len(missing))
            cur = self.db.execute(
                f"SELECT id, title, kind, url, date, meta, length(text) FROM documents WHERE id IN ({marks})", missing
            )
            for doc_id, title, kind, url, date, meta, length in cur:
                out[doc_id] = self._info[doc_id] = DocInfo(doc_id, title, kind, url, date, json.loads(meta), length)
        return {d: out[d] for d in doc_ids if d in out}

    def close(self) -> None:
        self.db.close()


# reads a file, given a function returning its next bytes (at most n, b"" at its end), into what it makes of it
Loader = Callable[[Callable[[int], bytes]], Any]


def load_hashed(path: Path, loader: Loader) -> tuple[str, Any]:
    """The sha256 of a file and what `loader` made of it, from one read: every byte the loader reads is
    hashed, then the rest of the file if it stopped short. What it made is None if it failed (the file is
    still hashed, so a damaged one shows as a checksum that differs)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:

        def read(n: int) -> bytes:
            data = fh.read(n)
            h.update(data)
            return data

        try:
            made = loader(read)
        except Exception as exc:
            log.debug("could not read %s: %s", path, exc)
            made = None
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest(), made


def file_digests(
    build: Path, names: list[str], keep: dict[str, bytes] | None = None, load: dict[str, Any] | None = None
) -> dict[str, str]:
    """The sha256 of each file `names` (relative to `build`), two files at a time (hashlib and file reads
    release the GIL, so the vector file and the chunk store, most of the bytes, are hashed side by side).
    The files `keep` names are read whole and their bytes put in it. Each file `load` names is read by the
    `Loader` it maps to while it is hashed (`load_hashed`), and what that made is put in its place."""
    from concurrent.futures import ThreadPoolExecutor

    read: dict[str, bytes] = {}
    made: dict[str, Any] = {}

    def digest(name: str) -> str:
        if load is not None and name in load:
            sha, made[name] = load_hashed(build / name, load[name])
            return sha
        if keep is not None and name in keep:
            data = read[name] = (build / name).read_bytes()
            return hashlib.sha256(data).hexdigest()
        return file_digest(build / name)

    workers = min(2, os.cpu_count() or 1, len(names))
    if workers <= 1:
        out = {name: digest(name) for name in names}
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # largest first, so the two big files start at once
            order = sorted(names, key=lambda name: -(build / name).stat().st_size)
            out = dict(zip(order, pool.map(digest, order), strict=True))
    if keep is not None:
        keep.update(read)
    if load is not None:
        load.update(made)
    return {name: out[name] for name in names}


def check_files(
    build: Path,
    manifest: dict[str, Any],
    *,
    verify: bool = True,
    keep: dict[str, bytes] | None = None,
    load: dict[str, Any] | None = None,
) -> None:
    """Raise `IndexCorrupt` for a file of the manifest that is missing or (with `verify`) whose checksum
    differs from the manifest's. The files `keep` names (with `verify`) are read whole and their bytes, the
    very bytes checked, put in it, so a caller uses them without reading and hashing them a second time.
    Likewise each file `load` names (a `Loader`) is read by its loader as it is hashed, and what that made
    of the very bytes checked is put in its place (None where the loader failed, or nothing verified)."""
    files: dict[str, str] = manifest.get("files", {})
    for name in files:
        if not (build / name).is_file():
            raise IndexCorrupt(f"index file {build / name} is missing: rebuild with `bot index`")
    if not verify:
        return
    read: dict[str, bytes] = {name: b"" for name in (keep or {}) if name in files}
    loading: dict[str, Any] = {name: loader for name, loader in (load or {}).items() if name in files}
    if load is not None:
        load.clear()  # filled only once every file verified
    got = file_digests(build, list(files), read, loading)
    for name, expected in files.items():
        if got[name] != expected:
            raise IndexCorrupt(f"index file {build / name} is corrupt (checksum differs): rebuild with `bot index`")
    if keep is not None:
        keep.update(read)
    if load is not None:
        load.update(loading)


def load_index(root: Path, *, model: str | None = None, verify: bool = True) -> Index:
    """Load an index; raise `IndexError_` with a message naming the fix when it cannot be used."""
    import faiss

    build = resolve_build(root)
    if build is None:
        raise IndexMissing(f"no index at {root}: build one with `bot index --index {root}`")
    manifest = read_manifest(build)
    if model is not None and manifest.get("model") != model:
        raise IndexMismatch(
            f"index at {build} was built with model {manifest.get('model')!r} "
            f"(dimension {manifest.get('dimension')}), but the configured model is {model!r}: rebuild with "
            f"`bot index --model {model}` or set BOT_MODEL={manifest.get('model')}"
        )
    check_files(build, manifest, verify=verify)
    # One query at a time: OpenMP fanning a single search out over shared cores costs up to 10x in waits.
    faiss.omp_set_num_threads(1)
    try:
        vectors = faiss.read_index(str(build / "vectors.faiss"))
        lexical = Lexical.load(build / "bm25")
        doc_lexical = Lexical.load(build / DOC_BM25) if (build / DOC_BM25).is_dir() else None
        db = sqlite3.connect(f"file:{build / 'chunks.sqlite'}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        rows = db.execute("SELECT row, doc_id, kind, code FROM chunks ORDER BY row").fetchall()
        # only documents that name what they are about (labels) feed the entity lexicon
        doc_rows = db.execute("SELECT id, kind, meta FROM documents WHERE meta LIKE '%\"entities\"%'").fetchall()
    except Exception as exc:
        raise IndexCorrupt(f"index at {build} cannot be read ({exc}): rebuild with `bot index`") from None
    if vectors.d != manifest.get("dimension") or vectors.ntotal != len(rows) or lexical.size != len(rows):
        raise IndexCorrupt(
            f"index at {build} is inconsistent ({vectors.ntotal} vectors, {len(rows)} chunks, "
            f"{lexical.size} BM25 rows, dimension {vectors.d}): rebuild with `bot index`"
        )
    kind_names = sorted({r[2] for r in rows})
    doc_ids = list(dict.fromkeys(r[1] for r in rows))
    if doc_lexical is not None and doc_lexical.size != len(doc_ids):
        raise IndexCorrupt(
            f"index at {build} is inconsistent ({doc_lexical.size} document BM25 rows, {len(doc_ids)} documents "
            "with chunks): rebuild with `bot index`"
        )
    doc_no = {d: i for i, d in enumerate(doc_ids)}
    code_names = sorted({r[3] for r in rows if r[3]})
    code_no = {c: i for i, c in enumerate(code_names)}
    lexicon: dict[str, set[int]] = {}
    for doc_id, _kind, meta in doc_rows:
        if doc_id not in doc_no:
            continue
        try:
            names = entity_names(json.loads(meta))
        except ValueError:
            names = []
        for name in names:
            lexicon.setdefault(name, set()).add(doc_no[doc_id])
    kind_of_doc: dict[str, str] = {}
    for r in rows:
        kind_of_doc.setdefault(r[1], r[2])
    return Index(
        path=build,
        manifest=manifest,
        vectors=vectors,
        lexical=lexical,
        db=db,
        kinds=np.array([kind_names.index(r[2]) for r in rows], dtype=np.int16),
        kind_names=kind_names,
        doc_of_row=np.array([doc_no[r[1]] for r in rows], dtype=np.int64),
        doc_ids=doc_ids,
        codes=np.array([code_no.get(r[3], -1) if r[3] else -1 for r in rows], dtype=np.int16) if code_names else None,
        code_names=code_names,
        entity_lexicon=lexicon,
        doc_kinds=[kind_of_doc[d] for d in doc_ids],
        doc_lexical=doc_lexical,
    )


@dataclass
class Reusable:
    """What an incremental build can take from the current build instead of recomputing. Unchanged chunks
    are not read as `Chunk` objects: a build copies their rows from `store` by SQLite and needs only their
    hash and kind; `chunks_at` reads whole chunks for the few uses that need their text."""

    docs: dict[str, tuple[str, range]] = field(default_factory=dict)  # doc id -> (hash, its chunks' rows)
    hashes: list[str] = field(default_factory=list)  # chunk hash per row of the previous build
    kinds: list[str] = field(default_factory=list)  # chunk kind per row
    # chunk hash -> BM25 tokens of its text, space-separated: only from a build older than the token ids
    # its BM25 folders hold (`bot.build`), whose store had a `tokens` table
    tokens: dict[str, str] = field(default_factory=dict)
    # doc id -> (hash, url, date, source, sections JSON) of its row: its hash, and what the hash does not tell
    # apart (url and date None or "") or does not cover
    doc_rows: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    doc_at: dict[str, int] = field(default_factory=dict)  # doc id -> the rowid of its row
    store: Path | None = None  # the previous (verified) chunk store

    def chunks_at(self, rows: list[int]) -> dict[int, Chunk]:
        """Whole chunks (text, heading, sentence spans…) of previous rows, read from the previous store."""
        if not rows or self.store is None:
            return {}
        db = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True)
        try:
            return read_chunks(db, rows)
        finally:
            db.close()


def previous_chunks(build: Path | None) -> Reusable:
    """The rows of each document's chunks, each row's chunk hash and kind, each document's row as far as
    its hash does not cover it, and the old `tokens` table of a build; empty when unreadable. Rows must be
    0..n-1 and every chunk's sentence spans valid JSON (an unchanged chunk is copied from the store by
    `write_chunk_store`, sentence spans and all, rather than parsed and serialised again)."""
    if build is None:
        return Reusable()
    store = build / "chunks.sqlite"
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            doc_rows: dict[str, tuple[Any, ...]] = {}  # (hash, url, date, source, sections)
            doc_at: dict[str, int] = {}
            documents = db.execute("SELECT rowid, id, hash, url, date, source, sections FROM documents")
            for rowid, doc_id, *rest in documents:
                doc_rows[doc_id] = tuple(rest)
                doc_at[doc_id] = rowid
            # each row's hash and kind in one pass over the table; a row whose sentence spans are not valid
            # JSON is left out, so the rows read are 0..n-1 only when every chunk's spans are valid
            rows = db.execute("SELECT row, hash, kind FROM chunks WHERE json_valid(sentences) ORDER BY row").fetchall()
            n = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            if len(rows) != n or (rows and (rows[0][0], rows[-1][0]) != (0, n - 1)):
                raise ValueError("chunk rows are not 0..n-1, or a chunk's sentence spans are not valid JSON")
            hashes: list[str] = [r[1] for r in rows]
            kinds: list[str] = [r[2] for r in rows]
            del rows
            # each document's rows (from the doc_id index, not the table): consecutive, in document order
            runs = db.execute("SELECT doc_id, min(row), max(row), count(*) FROM chunks GROUP BY doc_id").fetchall()
            runs.sort(key=lambda r: r[1])
            by_doc: dict[str, tuple[str, range]] = {}
            for doc_id, first, last, count in runs:
                if last - first + 1 != count:
                    raise ValueError(f"the chunks of {doc_id} are not consecutive rows")
                by_doc[doc_id] = (doc_rows[doc_id][0], range(first, last + 1))
            has_tokens = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'tokens'").fetchone()
            tokens = dict(db.execute("SELECT hash, tokens FROM tokens")) if has_tokens else {}
        finally:
            db.close()
    except (sqlite3.Error, KeyError, ValueError, TypeError) as exc:  # a damaged old build only costs recomputing
        log.warning("not reusing chunks from %s: %s", build, exc)
        return Reusable()
    return Reusable(by_doc, hashes, kinds, tokens, doc_rows, doc_at, store)


def previous_doc_hashes(root: Path) -> dict[str, str]:
    build = resolve_build(root)
    if build is None:
        return {}
    try:
        db = sqlite3.connect(f"file:{build / 'chunks.sqlite'}?mode=ro", uri=True)
        out = dict(db.execute("SELECT id, hash FROM documents").fetchall())
        db.close()
        return out
    except sqlite3.Error:
        return {}


def fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*")):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Sealer:
    """Hashes (sha256) and fsyncs a new build's files on one background thread as each is finished, while
    the build goes on writing the next (hashlib, file reads and fsync release the GIL). `finish` seals the
    files not handed over yet and returns every file's digest; `close` waits for the thread in any case.
    What it does is what `file_digests` and `fsync_tree` do at the end of a build, only earlier."""

    def __init__(self, build: Path) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self.build = build
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seal")
        self._done: dict[str, Future[str]] = {}

    def add(self, *names: str) -> None:
        """Seal these files (relative to the build; each finished: it is not written again) in the background."""
        for name in names:
            if name not in self._done:
                self._done[name] = self._pool.submit(self._seal, name)

    def add_tree(self, folder: str) -> None:
        """`add` every file under `folder` (relative to the build)."""
        files = sorted(p for p in (self.build / folder).rglob("*") if p.is_file())
        self.add(*(p.relative_to(self.build).as_posix() for p in files))

    def _seal(self, name: str) -> str:
        path = self.build / name
        digest = file_digest(path)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return digest

    def digests(self, names: list[str]) -> dict[str, str]:
        """The sha256 of each of `names` once each is hashed and on disk (those not handed over yet are sealed
        now). Raises what hashing or flushing a file raised."""
        self.add(*names)
        return {name: self._done[name].result() for name in names}

    def flush(self, *names: str) -> None:
        """fsync these files (written last, e.g. the manifest) and then the build folder itself, now."""
        for name in names:
            fd = os.open(self.build / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(self.build, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
