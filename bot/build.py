"""`bot index`: corpus -> chunks -> vectors + BM25 + chunk store, written atomically, reusing vectors."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .cache import VectorCache
from .chunking import chunk_document, content_hash, embed_text, has_body
from .documents import Chunk, Document
from .embedding import Embedder
from .index import (
    DOC_BM25,
    DOC_TOKEN_PREFIX,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_DIGEST,
    IndexError_,
    Reusable,
    Sealer,
    StoreCopy,
    check_files,
    document_text,
    previous_chunks,
    previous_doc_hashes,
    read_manifest,
    resolve_build,
    sections_json,
    write_chunk_store,
    write_manifest,
)
from .ingest import Problem
from .lexical import K1, B, Lexical, has_words, index_into, tokenize
from .shapes import SHAPES
from .shapes import VERSION as SHAPES_VERSION
from .shapes import for_build as shapes_for_build
from .shapes import from_store as shapes_from_store
from .shapes import read as read_shapes
from .vectors import (
    HNSW_THRESHOLD,
    VECTOR_INDEX_TYPES,
    RowVectors,
    choose_vector_index,
    read_faiss,
    read_previous,
    row_sources,
    update_vectors,
)

log = logging.getLogger(__name__)
KEEP_BUILDS = 2
REUSE_SOURCES = ("chunking.py", "lexical.py")
# Bumped when chunking splits text differently (2: dotted initials such as "U.S." end no sentence) or BM25
# tokens change (3: accents dropped, "naïve" is "naive"), so an index of an unchanged corpus is rebuilt
# rather than reported up to date with the old chunks or tokens.
CHUNKING_VERSION = 3


class BuildError(RuntimeError):
    pass


class NoSpaceError(BuildError):
    """The disk (or the user's quota) filled up while a new build was written; the current build is unchanged."""


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")  # numpy's `tofile` on a full disk: no errno
SQLITE_FULL = 13


@dataclass
class BuildStats:
    documents: int = 0
    chunks: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    skipped_files: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    tokens_embedded: int = 0  # useful (non-padding) word pieces embedded, when the embedder reports them
    tokens_computed: int = 0  # word pieces run through the model, padding included
    up_to_date: bool = False
    path: str = ""
    # the vector index: "patched" (the previous HNSW graph, only changed rows removed and added) or "full"
    vectors_written: str = ""
    rows_removed: int = 0  # nodes taken out of the previous graph (patched) or all previous rows (full)
    rows_added: int = 0  # rows inserted into the index: only new and changed chunks when patched

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["problems"] = [asdict(p) for p in self.problems]
        return d


_META_JSON = json.JSONEncoder(sort_keys=True, default=str).encode  # json.dumps(…, sort_keys=True, default=str)


def doc_hash(doc: Document) -> str:
    outline = json.dumps([[p.start, p.end, list(p.path), p.code, p.page] for p in doc.parts]) if doc.parts else "[]"
    meta = "{}" if doc.meta == {} else _META_JSON(doc.meta)  # (no encoder run for the common empty ones)
    return content_hash(doc.id, doc.title, doc.kind, doc.url or "", doc.date or "", doc.text, outline, meta)


NO_BODY = "nothing to index: a title or headings only, no text under them"
NO_WORDS = "nothing to index: no searchable word (only punctuation, stop words or single letters)"


def indexable(docs: list[Document]) -> tuple[list[Document], list[Problem]]:
    """The documents that give the index something, and a problem (the file, or the file and line, and
    why) for each of the others, which are left out as an unreadable file is: a document of only a title
    or headings makes no chunk, and one with no word BM25 keeps (title and text) is found by no search.
    Cheap for a real document: each check stops at its first letter or word that counts."""
    kept: list[Document] = []
    skipped: list[Problem] = []
    for doc in docs:
        if not has_body(doc):
            skipped.append(Problem(doc.source or doc.id, NO_BODY))
        elif not has_words(document_text(doc.id, doc.title, doc.text)):
            skipped.append(Problem(doc.source or doc.id, NO_WORDS))
        else:
            kept.append(doc)
    return kept, skipped


def corpus_fingerprint(hashes: dict[str, str]) -> str:
    return content_hash(*(f"{k}={v}" for k, v in sorted(hashes.items())))


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(f"another `bot index` is building {root}; wait for it to finish") from None
        yield


def _clean_leftovers(builds: Path) -> None:
    """Remove what a killed build left behind (called under the build lock, so no build is running)."""
    for tmp in builds.glob(".tmp-*"):
        log.info("removing leftover temporary build %s", tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    for link in builds.parent.glob(".current-*"):
        if link.is_symlink():
            log.info("removing leftover link %s", link)
            link.unlink(missing_ok=True)


def _no_space(exc: BaseException, folder: Path) -> bool:
    """Whether a write failed because the disk or the quota is full. numpy's short write ("55707 requested
    and 42976 written") carries no errno: it counts when the disk has (almost) nothing left."""
    if isinstance(exc, OSError):
        if exc.errno in NO_SPACE:
            return True
        if exc.errno is None and SHORT_WRITE.search(str(exc)):
            try:
                st = os.statvfs(folder)
            except OSError:
                return False
            return st.f_bavail * st.f_frsize < 1 << 20
        return False
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == getattr(sqlite3, "SQLITE_FULL", SQLITE_FULL)
    return isinstance(exc, RuntimeError) and any(os.strerror(code) in str(exc) for code in NO_SPACE)  # faiss


def _complete(path: Path) -> bool:
    """Whether a BM25 file holds all it should (a .npy file its header's array, a .json file valid JSON)."""
    try:
        if path.suffix == ".npy":
            np.load(path, mmap_mode="r", allow_pickle=False)
        elif path.suffix == ".json":
            json.loads(path.read_bytes())
    except Exception:
        return False
    return True


def _failed_file(exc: BaseException, writing: Path, tmp: Path | None) -> str:
    """What a failed write was writing, relative to the new build. bm25s's `save` writes several files and
    its errors may name none: it is the one of them left incomplete (it stops at the first failure)."""
    path = writing
    if tmp is not None and path != tmp and path.is_dir():
        named = Path(exc.filename) if isinstance(exc, OSError) and isinstance(exc.filename, str) else None
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if named is not None and named.is_relative_to(path):
            path = named
        elif files:
            partial = [p for p in files if not _complete(p)]
            path = partial[0] if partial else max(files, key=lambda p: p.stat().st_mtime_ns)
    if tmp is None:
        return f"the link {path.name}" if path.name == "current" else "a temporary build folder"
    if path == tmp:
        return "the new index"
    try:
        return f"{path.relative_to(tmp).as_posix()} of the new index"
    except ValueError:
        return str(path)


def _write_error(
    exc: BaseException, writing: Path, tmp: Path | None, folder: Path, had_current: bool
) -> BuildError | None:
    """One clear error for a failed write of a new build (None: not a write failure, raise it as it is).
    A full disk names what ran out, the file and the fix; the current build is never touched."""
    if isinstance(exc, BuildError) or not isinstance(exc, OSError | sqlite3.Error | RuntimeError):
        return None
    try:
        return _describe_write_error(exc, writing, tmp, folder, had_current)
    except Exception:  # describing the failure must never hide it
        log.debug("could not describe %r", exc, exc_info=True)
        return None


def _describe_write_error(
    exc: BaseException, writing: Path, tmp: Path | None, folder: Path, had_current: bool
) -> BuildError:
    after = "the old index is unchanged" if had_current else "no index was swapped in"
    what = _failed_file(exc, writing, tmp)
    if _no_space(exc, folder):
        quota = (isinstance(exc, OSError) and exc.errno == errno.EDQUOT) or os.strerror(errno.EDQUOT) in str(exc)
        ran_out = "disk quota exceeded" if quota else "no space left on device"
        return NoSpaceError(
            f"{ran_out} while writing {what} in {folder}: free space there, or keep the index on another "
            f"disk (--index or BOT_INDEX); {after}"
        )
    return BuildError(f"cannot write {what} in {folder}: {_write_failure(exc)}; {after}")


def _write_failure(exc: BaseException) -> str:
    """The reason in a library's write error, e.g. faiss's long message ending in "(No space left on device)"."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EIO):
        if os.strerror(code) in text:
            return os.strerror(code)
    return text.strip().splitlines()[-1][-200:] if text.strip() else type(exc).__name__


def _swap_current(root: Path, build: Path) -> None:
    link = root / "current"
    if link.exists() and not link.is_symlink():
        raise BuildError(f"{link} exists and is not a symlink; move it away and rebuild")
    tmp_link = root / f".current-{os.getpid()}"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(os.path.relpath(build, root), tmp_link)
    os.replace(tmp_link, link)  # atomic: readers see the old build or the new one, never neither
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(builds: Path, keep: Path) -> None:
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    for old in done[:-KEEP_BUILDS]:
        if old.resolve() != keep.resolve():
            shutil.rmtree(old, ignore_errors=True)


def build_index(
    docs: list[Document],
    root: Path,
    embedder: Embedder | Callable[[], Embedder],
    *,
    model: str,
    chunk_size: int,
    chunk_overlap: int,
    batch_size: int = 32,
    progress: bool = True,
    force: bool = False,
    problems: list[Problem] | None = None,
    cache_dir: Path | None = None,
    vector_index: str = "auto",
    hnsw_threshold: int = HNSW_THRESHOLD,
) -> BuildStats:
    """Build an index of `docs` under `root`, swap it in, and return what changed.

    `embedder` may be a factory, called only when something must be embedded.
    Vectors are reused from the current index and from the vector cache in `cache_dir`.
    """
    t0 = time.perf_counter()
    docs, skipped = indexable(docs)  # none of them reaches the chunker or BM25; each is reported
    for problem in skipped:
        log.warning("skipped %s: %s", problem.path, problem.reason)
    stats = BuildStats(documents=len(docs), problems=[*(problems or []), *skipped])
    if not docs:  # before the lock and any write: the current index, if any, keeps serving
        raise BuildError(f"no readable documents ({len(stats.problems)} problems); the current index is unchanged")
    hashes = {d.id: doc_hash(d) for d in docs}
    fingerprint = corpus_fingerprint(hashes)
    chunking = {"size": chunk_size, "overlap": chunk_overlap, "version": CHUNKING_VERSION}
    with build_lock(root):
        builds = root / "builds"
        builds.mkdir(parents=True, exist_ok=True)
        _clean_leftovers(builds)
        old_hashes = previous_doc_hashes(root)
        stats.added = sum(1 for d in hashes if d not in old_hashes)
        stats.changed = sum(1 for d, h in hashes.items() if d in old_hashes and old_hashes[d] != h)
        stats.unchanged = len(hashes) - stats.added - stats.changed
        stats.removed = sum(1 for d in old_hashes if d not in hashes)

        current = resolve_build(root)
        up_to_date = False  # what the manifest says; it counts only once every file verified
        if current is not None and not force:
            try:
                m = read_manifest(current)
                wanted = choose_vector_index(int(m["counts"]["chunks"]), vector_index, threshold=hnsw_threshold)
                same_vectors = m.get("faiss", "IndexFlatIP") == VECTOR_INDEX_TYPES[wanted]
                built_from = (m.get("corpus_fingerprint"), m.get("model"), m.get("chunking"))
                up_to_date = built_from == (fingerprint, model, chunking) and same_vectors
            except Exception:  # unreadable old manifest: just rebuild
                pass
        # a build to be reused: its vector file is read (for read_previous) as it is verified, from the very
        # bytes hashed, with no copy of the whole file in memory
        loaded: dict[str, Any] = {} if up_to_date else {"vectors.faiss": read_faiss}
        damage = damaged(current, load=loaded) if current is not None else None
        if damage is not None:
            # A damaged build is never the base of a new one: nothing of it is reused, it is not "up to date".
            log.warning("the current index %s is damaged (%s): nothing of it is reused, rebuilding", current, damage)
            current = None
            loaded.clear()
        if current is not None and up_to_date:
            stats.up_to_date = True
            stats.chunks = int(m["counts"]["chunks"])
            stats.chunks_reused = stats.chunks
            stats.path = str(current)
            stats.seconds = time.perf_counter() - t0
            return stats

        reuse = _reusable(current, chunking) if not force else Reusable()
        # Per chunk row of the new build: its chunk hash, kind and document, its row in the current build (an
        # unchanged document's chunk, copied from there) or -1, and its embedded text (None: not needed yet).
        # Only changed and new documents' chunks are made (`fresh`); unchanged ones are not read at all.
        row_hashes: list[str] = []
        row_kinds: list[str] = []
        row_docs: list[Document] = []
        reused_rows: list[int] = []
        texts: list[str | None] = []
        fresh: list[Chunk] = []
        doc_order: list[str] = []  # documents with chunks, in row order: the document BM25's rows
        old_doc_no = {doc_id: i for i, doc_id in enumerate(reuse.docs)}  # row order: the document BM25's
        reused_docs: dict[str, int] = {}  # unchanged document -> its row in the current document BM25
        old_hash, old_kind = reuse.hashes.__getitem__, reuse.kinds.__getitem__
        bar = _progress(docs, "chunking", progress)
        for doc in bar:
            old = reuse.docs.get(doc.id)
            if old is not None and old[0] == hashes[doc.id]:  # unchanged document: its chunks as they were
                rows = old[1]
                reused_docs[doc.id] = old_doc_no[doc.id]
                reused_rows.extend(rows)
                row_hashes.extend(map(old_hash, rows))
                row_kinds.extend(map(old_kind, rows))
                texts.extend([None] * len(rows))
                n = len(rows)
            else:
                made = chunk_document(doc, size=chunk_size, overlap=chunk_overlap, first_id=len(row_hashes))
                reused_rows.extend([-1] * len(made))
                for chunk in made:
                    fresh.append(chunk)
                    row_hashes.append(chunk.hash)
                    row_kinds.append(chunk.kind)
                    texts.append(embed_text(doc, chunk))
                n = len(made)
            if n:
                row_docs.extend([doc] * n)
                doc_order.append(doc.id)
        stats.chunks = n_rows = len(row_hashes)

        def read_texts(wanted: list[int]) -> None:
            """The embedded texts of unchanged chunks (rows of this build), read from the current build."""
            old_chunks = reuse.chunks_at([reused_rows[i] for i in wanted])
            for i in wanted:
                texts[i] = embed_text(row_docs[i], old_chunks[reused_rows[i]])

        # BM25 token ids of unchanged chunks and documents: those the current build's BM25 folders hold
        # (None, and everything tokenised again, when it has none or they do not check out)
        n_old_rows = len(reuse.hashes)
        prev_chunk_ids = _previous_ids(current / "bm25", n_old_rows) if current and reuse.docs else None
        prev_doc_ids = _previous_ids(current / DOC_BM25, len(reuse.docs)) if current and reuse.docs else None
        bm25_rows = reused_rows if prev_chunk_ids is not None else [-1] * n_rows
        doc_rows = [reused_docs.get(d, -1) if prev_doc_ids is not None else -1 for d in doc_order]
        read_texts(
            [i for i in range(n_rows) if bm25_rows[i] < 0 and texts[i] is None and not reuse.tokens.get(row_hashes[i])]
        )
        # the others' BM25 tokens, space-separated (stems hold no spaces): one string per chunk
        tokens: list[str | None] = [
            None if r >= 0 else reuse.tokens.get(h) or " ".join(tokenize(t or ""))
            for h, t, r in zip(row_hashes, texts, bm25_rows, strict=True)
        ]
        # and the whole documents' (title and text), for the document BM25 the rankings read
        by_id = {d.id: d for d in docs}
        doc_tokens: list[str | None] = [
            None
            if r >= 0
            else reuse.tokens.get(DOC_TOKEN_PREFIX + hashes[doc_id])
            or " ".join(tokenize(document_text(doc_id, by_id[doc_id].title, by_id[doc_id].text)))
            for doc_id, r in zip(doc_order, doc_rows, strict=True)
        ]

        # the focus keys and question types of unchanged documents and rows, as the current build stored them
        previous_shapes = None
        if current is not None and reuse.docs:
            previous_shapes = read_shapes(current, read_manifest(current), n_old_rows, list(reuse.docs))

        emb: Embedder | None = embedder if hasattr(embedder, "encode") else None  # type: ignore[assignment]
        dim = int(manifest_dim(current, model) or (emb or _call(embedder)).dim)
        verified = loaded.pop("vectors.faiss", None)  # the index, as `damaged` checked its bytes
        previous = read_previous(root, model, dim, index=verified, hashes=reuse.hashes or None) if current else None
        verified = None
        previous_matrix = previous.view() if previous is not None else None  # in place: `previous` outlives it
        # chunk hash -> its row in the previous build's matrix, and the vectors of the others (vector cache,
        # embedder)
        at: dict[str, int] = {}
        # each row's old row of the same chunk text (each old row once): the node it keeps in a patched graph,
        # and the row its vector is copied from, so the two are the same row
        sources: np.ndarray | None = None
        if previous is not None and previous_matrix is not None:
            at = {h: i for i, h in enumerate(previous.hashes)}
            sources = row_sources(previous.hashes, row_hashes)
        cache: dict[str, np.ndarray] = {}
        store = VectorCache(cache_dir, model, dim) if cache_dir else None
        if store is not None:
            cache.update(store.get(h for h in row_hashes if h not in at))
        missing = [i for i, h in enumerate(row_hashes) if h not in at and h not in cache]
        read_texts([i for i in missing if texts[i] is None])
        todo: dict[str, str] = {}
        for i in missing:
            todo.setdefault(row_hashes[i], texts[i] or "")
        stats.chunks_embedded = len(todo)
        stats.chunks_reused = n_rows - len(missing)
        if todo:
            emb = emb or _call(embedder)
            log.info("embedding %d chunks (%d reused)", len(todo), stats.chunks_reused)
            t_embed = time.perf_counter()
            _embed_in_slices(emb, todo, cache, store, batch_size=batch_size, progress=progress, stats=stats)
            stats.embed_seconds = time.perf_counter() - t_embed
        if store is not None:
            store.close()
        # the vectors: rows of the previous build's matrix (read in place, gathered only where needed), the
        # others' vectors from the cache or the embedder
        old_at = np.fromiter((at.get(h, -1) for h in row_hashes), dtype=np.int64, count=n_rows)
        if sources is not None:
            old_at = np.where(sources >= 0, sources, old_at)
        matrix = RowVectors(
            previous_matrix if previous_matrix is not None else np.zeros((0, dim), dtype=np.float32),
            old_at,
            {i: cache[row_hashes[i]] for i in np.flatnonzero(old_at < 0).tolist()},
            dim,
        )
        at, cache = {}, {}

        had_current = resolve_build(root) is not None
        tmp: Path | None = None
        writing = builds  # what is being written, named in the error when the disk fills up
        sealer: Sealer | None = None  # hashes and flushes each finished file while the next is written
        try:
            # named before it is made: an interrupt (Ctrl-C) just after the mkdir still finds it to remove
            tmp = builds / f".tmp-{secrets.token_hex(6)}"
            tmp.mkdir()
            sealer = Sealer(tmp)
            writing = tmp / "vectors.faiss"
            faiss_info, patch = update_vectors(
                writing,
                matrix,
                row_hashes,
                None if force else previous,  # --force rebuilds the graph too
                previous_matrix=previous_matrix,
                copied_from=old_at if previous_matrix is not None else None,
                sources=sources,
                kind=vector_index,
                threshold=hnsw_threshold,
            )
            old_rows = len(previous.hashes) if previous is not None else 0
            del matrix  # it reads the old vectors in place: it must not outlive the old graph
            previous_matrix = None  # the old vectors (a view into the old graph's storage), then the old graph
            previous = None
            stats.vectors_written = "patched" if patch is not None else "full"
            stats.rows_added = patch.added if patch is not None else n_rows
            stats.rows_removed = patch.removed if patch is not None else old_rows
            sealer.add("vectors.faiss")
            writing = tmp / "chunks.sqlite"
            copy = None
            if reuse.store is not None:
                # an unchanged document's row is copied too when what its hash does not cover is the same
                same_docs = {
                    d.id: reuse.doc_at[d.id]
                    for d in docs
                    if reuse.doc_rows.get(d.id) == (hashes[d.id], d.url, d.date, d.source, sections_json(d.sections))
                }
                pairs = [(new, old) for new, old in enumerate(reused_rows) if old >= 0]
                copy = StoreCopy(reuse.store, pairs, same_docs)
            write_chunk_store(writing, docs, fresh, hashes, copy=copy)
            sealer.add("chunks.sqlite")
            writing = tmp / SHAPES
            shapes = shapes_for_build(doc_order, by_id, reused_docs, reused_rows, fresh, previous_shapes)
            if shapes is None:  # unchanged rows whose types the current build does not hold: read them back
                with contextlib.closing(sqlite3.connect(tmp / "chunks.sqlite")) as db:
                    shapes = shapes_from_store(db, doc_order)
            shapes.save(writing)
            sealer.add_tree(SHAPES)
            writing = tmp / "bm25"
            _save_lexical(writing, *_lexical(tokens, prev_chunk_ids, bm25_rows))
            sealer.add_tree("bm25")
            writing = tmp / DOC_BM25
            _save_lexical(writing, *_lexical(doc_tokens, prev_doc_ids, doc_rows))
            kinds = Counter(row_kinds)
            manifest = {
                "format_version": FORMAT_VERSION,
                "model": model,
                "dimension": dim,
                "chunking": chunking,
                "corpus_fingerprint": fingerprint,
                "counts": {"documents": len(docs), "chunks": n_rows},
                "kinds": dict(sorted(kinds.items())),
                "faiss": faiss_info["type"],
                "faiss_params": faiss_info,
                "hnsw_threshold": hnsw_threshold,
                "reuse_key": reuse_key(),
                "bm25": {"k1": 1.5, "b": 0.75, "stemmer": "english"},
                "shapes": {"version": SHAPES_VERSION},
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                # every file, the BM25 arrays included, so damage is caught at load rather than at query time
                "files": sealer.digests([f.relative_to(tmp).as_posix() for f in sorted(tmp.rglob("*")) if f.is_file()]),
            }
            writing = tmp / MANIFEST
            write_manifest(tmp, manifest)
            writing = tmp
            sealer.flush(MANIFEST, MANIFEST_DIGEST)  # every other file was flushed as it was hashed
            sealer.close()
            final = builds / (datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + fingerprint[:8])
            base, n = final.name, 1
            while final.exists():  # builds of one corpus within one second
                final, n = final.with_name(f"{base}-{os.getpid()}-{n}"), n + 1
            os.rename(tmp, final)
        except BaseException as exc:
            if sealer is not None:
                sealer.close()  # its thread may be reading a file of the build removed below
            failure = _write_error(exc, writing, tmp, builds, had_current)  # before the partial files go
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            if failure is not None:
                raise failure from exc
            raise
        try:
            _swap_current(root, final)
        except OSError as exc:
            if (root / "current").resolve() == final.resolve():  # it went live; only the final fsync failed
                log.warning("could not flush the switch of %s to disk: %s", root / "current", exc)
            else:
                failure = _write_error(exc, root / "current", None, root, had_current)
                shutil.rmtree(final, ignore_errors=True)
                raise (failure or exc) from exc
        _prune(builds, final)
        stats.path = str(final)
    stats.seconds = time.perf_counter() - t0
    return stats


def _embed_in_slices(
    emb: Embedder,
    todo: dict[str, str],
    cache: dict[str, np.ndarray],
    store: VectorCache | None,
    *,
    batch_size: int,
    progress: bool,
    stats: BuildStats | None = None,
) -> None:
    """Embed `todo` (hash -> text) a slice at a time, saving each slice to the vector cache at once,
    so an interrupted build resumes where it stopped. Texts go shortest first, so each slice holds
    texts of near-equal length, which the ONNX embedder batches with no padding at all."""
    items = sorted(todo.items(), key=lambda item: len(item[1]))
    step = max(batch_size * 32, 256)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), desc="embedding", unit="chunk")
    parts = [items[i : i + step] for i in range(0, len(items), step)]
    slices = [[t for _, t in part] for part in parts]
    stream = getattr(emb, "encode_stream", None)  # a cluster's embedder (bot/ray_embed.py): all slices in one job
    results = (
        stream(slices, batch_size=batch_size)
        if stream is not None
        else (emb.encode(texts, batch_size=batch_size, progress=False) for texts in slices)
    )
    for part, vectors in zip(parts, results, strict=True):
        last = getattr(emb, "last", None)  # the ONNX embedder's count of what it computed
        if stats is not None and last is not None:
            stats.tokens_embedded += last.tokens
            stats.tokens_computed += last.computed
        new = {h: v for (h, _), v in zip(part, vectors, strict=True)}
        cache.update(new)
        if store is not None:
            store.put(new)
        if bar is not None:
            bar.update(len(part))
    if bar is not None:
        bar.close()


@lru_cache(maxsize=1)
def reuse_key() -> str:
    """Changes whenever the code that turns a document into chunks or a text into BM25 tokens changes;
    a build reuses chunks and tokens of unchanged documents only from a build with the same key."""
    h = hashlib.sha256()
    for name in REUSE_SOURCES:
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]


def damaged(build: Path, *, keep: dict[str, bytes] | None = None, load: dict[str, Any] | None = None) -> str | None:
    """Why a build cannot be trusted (an unreadable or invalid manifest, a file missing or differing from
    its manifest checksum: the checks `load_index` makes), or None when every file verifies. The files
    `keep` names get their verified bytes put in it, those `load` names what their loader made of them
    (see `check_files`)."""
    try:
        manifest = read_manifest(build)
    except Exception as exc:
        return str(exc)
    if not manifest.get("files"):
        return "its manifest lists no file checksums"
    try:
        check_files(build, manifest, keep=keep, load=load)
    except IndexError_ as exc:
        return str(exc)
    return None


def _reusable(current: Path | None, chunking: dict[str, int]) -> Reusable:
    if current is None:
        return Reusable()
    try:
        m = read_manifest(current)
    except Exception:
        return Reusable()
    if m.get("chunking") != chunking or m.get("reuse_key") != reuse_key():
        return Reusable()
    return previous_chunks(current)


def build_lexical(tokens: list[str]) -> Lexical:
    """The BM25 index `Lexical.build(texts)` builds, from texts already tokenised with `tokenize`
    (each text's tokens joined by spaces).

    bm25s's per-document scoring loop is replaced (through its documented `build_index_from_ids`
    hook) by a vectorised equivalent computing the same float32 scores in the same sparse layout;
    tests check it against `Lexical.build`."""
    return _lexical(list(tokens))[0]


TOKEN_IDS, TOKEN_OFFSETS = "token_ids.npy", "token_offsets.npy"
PreviousIds = tuple[list[str], np.ndarray, np.ndarray]  # a build's vocabulary (by id), token ids, row offsets


def _lexical(
    tokens: list[str | None], previous: PreviousIds | None = None, rows: list[int] | None = None
) -> tuple[Lexical, np.ndarray, np.ndarray]:
    """`build_lexical`, where a text whose tokens are None takes its token ids from row `rows[i]` of the
    previous build's BM25 (`previous`) instead of mapping its words to ids again; and the token ids and row
    offsets of the result, which the next build reuses.

    The vocabulary is numbered in order of first occurrence, as `Lexical.build` numbers it: words are
    first numbered in a space of their own (the previous vocabulary, then new words), then renumbered by
    where each first occurs, so the result is the same as from the texts alone."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    words = list(previous[0]) if previous is not None else []
    number = {w: i for i, w in enumerate(words)}
    n = len(tokens)
    fresh = [i for i, toks in enumerate(tokens) if toks is not None]
    lengths = np.zeros(n, dtype=np.int64)
    bounds = list(range(n + 1))  # the rows where a piece starts: every row, or runs of reused rows
    if len(fresh) < n:  # rows taking their ids from the previous build: in runs of consecutive old rows
        assert previous is not None and rows is not None
        _, old_ids, old_offsets = previous
        src = np.asarray(rows, dtype=np.int64)
        src[fresh] = -2  # so no run goes through a fresh row
        reused = src >= 0
        lengths[reused] = np.diff(old_offsets)[src[reused]]
        ends = set(np.flatnonzero(np.diff(src) != 1).tolist())  # rows after which a run breaks
        bounds = sorted({0, n, *fresh, *(i + 1 for i in fresh), *(i + 1 for i in ends)})
    pieces: list[np.ndarray] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        toks = tokens[a]
        if toks is None:  # rows a..b-1, old rows src[a]..src[b-1]: one slice of the old ids
            pieces.append(old_ids[old_offsets[src[a]] : old_offsets[src[b - 1] + 1]])
        else:
            pieces.append(np.fromiter((number.setdefault(t, len(number)) for t in toks.split()), dtype=np.int32))
            lengths[a] = len(pieces[-1])
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # token ids as int32 (as they are saved), so the arrays over every token are half the size
    flat = np.concatenate(pieces).astype(np.int32, copy=False) if pieces else np.zeros(0, dtype=np.int32)
    assert len(flat) == offsets[-1]
    first = np.full(len(number), len(flat), dtype=np.int64)  # where each word number first occurs
    step = 1 << 20  # a block of positions at a time: no array of every position
    at = np.arange(min(step, len(flat)), dtype=np.int64)
    for a in range(0, len(flat), step):
        block = flat[a : a + step]
        np.minimum.at(first, block, at[: len(block)] + a)
    present = np.flatnonzero(first < len(flat))
    order = present[np.argsort(first[present], kind="stable")]  # the word numbers by first occurrence
    rank = np.zeros(len(number), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    flat = rank[flat]
    words = list(number)
    vocab = {words[w]: i for i, w in enumerate(order.tolist())}
    retriever = bm25s.BM25(k1=K1, b=B)
    ids: Any = []
    if vocab and (retriever.method, retriever.idf_method) == ("lucene", "lucene"):
        retriever.build_index_from_ids = functools.partial(_bm25_scores, retriever)
        ids = _FlatIds(flat, lengths)
    elif vocab:
        ids = [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(tokens))]
    index_into(retriever, ids, vocab, len(tokens))  # no word at all (no row, or none with a word): no crash
    return Lexical(retriever, vocab), flat, offsets


@dataclass
class _FlatIds:
    """Every text's token ids, one after the other, and each text's count of them."""

    flat: np.ndarray
    lengths: np.ndarray


def _save_lexical(path: Path, lexical: Lexical, ids: np.ndarray, offsets: np.ndarray) -> None:
    lexical.save(path)
    np.save(path / TOKEN_IDS, ids, allow_pickle=False)
    np.save(path / TOKEN_OFFSETS, offsets, allow_pickle=False)


def _previous_ids(folder: Path, rows: int) -> PreviousIds | None:
    """A build's BM25 vocabulary, token ids and row offsets (from a build whose files verified against its
    manifest), or None when it has none or they do not fit together (then everything is tokenised again)."""
    try:
        vocab = json.loads((folder / "vocab.json").read_text())
        ids = np.load(folder / TOKEN_IDS, allow_pickle=False)
        offsets = np.load(folder / TOKEN_OFFSETS, allow_pickle=False)
    except (OSError, ValueError):
        return None
    try:
        words = sorted(vocab, key=vocab.__getitem__) if isinstance(vocab, dict) else []
    except TypeError:  # ids that are not numbers
        words = []
    fits = (
        isinstance(vocab, dict)
        and len(words) == len(vocab)
        and [vocab[w] for w in words] == list(range(len(words)))
        and ids.ndim == 1
        and offsets.ndim == 1
        and ids.dtype.kind in "iu"
        and offsets.dtype.kind in "iu"
        and len(offsets) == rows + 1
        and offsets[0] == 0
        and offsets[-1] == len(ids)
        and bool(np.all(np.diff(offsets) >= 0))
        and (len(ids) == 0 or (int(ids.min()) >= 0 and int(ids.max()) < len(words)))
    )
    if not fits:
        log.warning("not reusing the BM25 token ids in %s: they do not fit its chunks", folder)
        return None
    return words, ids, offsets


def _bm25_scores(retriever: Any, unique_token_ids: list[int], corpus_token_ids: Any, **_: Any) -> dict:
    """BM25 (Lucene variant: idf = ln(1 + (N - df + .5) / (df + .5)), tf / (tf + k1 (1 - b + b dl / avgdl)))
    of every (document, token) pair, as a CSC matrix (columns: tokens), exactly as bm25s lays it out."""
    import scipy.sparse

    assert isinstance(corpus_token_ids, _FlatIds)
    flat, lengths = corpus_token_ids.flat, corpus_token_ids.lengths
    n_docs, n_vocab = len(lengths), len(unique_token_ids)
    avg_len = lengths.mean()
    # (token, document) pairs in CSC order (by token, then document) and each one's term frequency: the
    # rows as a sparse matrix of counts turned into columns, in linear time (np.unique over every pair sorted
    # them: twice the time at 100,000 chunks)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    counts = scipy.sparse.csr_matrix((np.ones(len(flat), dtype=np.int64), flat, offsets), shape=(n_docs, n_vocab))
    columns = counts.tocsc()  # each column's rows in order, a repeated (row, token) pair on adjacent entries
    columns.sum_duplicates()  # so this adds them up without sorting anything
    tf, doc = columns.data, columns.indices
    df = np.diff(columns.indptr)
    tok = np.repeat(np.arange(n_vocab, dtype=np.int64), df)
    values, which = np.unique(df, return_inverse=True)  # math.log, as bm25s computes it, once per distinct df
    logs = [math.log(1 + (n_docs - v + 0.5) / (v + 0.5)) if v > 0 else 0.0 for v in values.tolist()]
    idf = np.asarray(logs, dtype=np.float32)[which.reshape(-1)] if n_vocab else np.zeros(0, dtype=np.float32)
    k1, b = retriever.k1, retriever.b
    # tf / (k1 (1 - b + b dl / avgdl) + tf): the length term once per document (the same float operations,
    # in the same order, as per pair), then gathered
    tfc = tf / ((k1 * ((1 - b) + b * lengths / avg_len))[doc] + tf)
    scores = (idf[tok] * tfc).astype(retriever.dtype)
    retriever.nonoccurrence_array = None  # as bm25s sets it for this variant
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return {"data": scores, "indices": doc.astype(np.int32), "indptr": indptr, "num_docs": n_docs}


def _call(factory: Embedder | Callable[[], Embedder]) -> Embedder:
    return factory() if callable(factory) and not hasattr(factory, "encode") else factory  # type: ignore[return-value]


def manifest_dim(build: Path | None, model: str) -> int | None:
    """The dimension recorded by an existing build of the same model (saves loading the model)."""
    if build is None:
        return None
    try:
        m = read_manifest(build)
    except Exception:
        return None
    return int(m["dimension"]) if m.get("model") == model else None


def _progress(items: list[Document], desc: str, enabled: bool):  # type: ignore[no-untyped-def]
    if not enabled or len(items) < 200:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="doc")
