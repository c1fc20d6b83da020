"""The vector index of a build: which FAISS index `n` vectors get (flat or HNSW), writing it, and updating
the previous build's HNSW graph in place of a full rebuild when only a few chunks changed. Row i of the
index is chunk row i of the build (bot/index.py); everything else keyed by row follows from that.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .index import IndexCorrupt, read_manifest, resolve_build

log = logging.getLogger(__name__)

HNSW_THRESHOLD = 50_000  # chunks; above it `auto` builds HNSW (see docs/PERFORMANCE.md for the measurements)
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96
VECTOR_INDEX_TYPES = {"flat": "IndexFlatIP", "hnsw": "IndexHNSWFlat"}
# A kind filter on an HNSW index: the graph must widen its beam to ef * n / allowed to find `allowed` rows,
# while exact search over them costs ~allowed. Measured (bench/scale.py --sweep), exact wins while
# allowed^2 <= ~36 ef n; the bot switches at a quarter of that, and always below FILTER_EXACT_ROWS.
FILTER_EXACT_ROWS = 10_000
FILTER_EXACT_FACTOR = 9.0


def choose_vector_index(n: int, kind: str = "auto", *, threshold: int = HNSW_THRESHOLD) -> str:
    """The index type `n` vectors get: flat (exact, IndexFlatIP) or hnsw (IndexHNSWFlat)."""
    if kind not in ("auto", "flat", "hnsw"):
        raise ValueError(f"unknown vector index type {kind!r}; choose auto, flat or hnsw")
    if kind == "auto":
        return "hnsw" if n > threshold else "flat"
    return kind


def write_vectors(
    path: Path, matrix: np.ndarray, *, kind: str = "flat", threshold: int = HNSW_THRESHOLD
) -> dict[str, Any]:
    """Write the FAISS index of `matrix` (row i = chunk i) and return its description for the manifest."""
    import faiss

    chosen = choose_vector_index(len(matrix), kind, threshold=threshold)
    info: dict[str, Any]
    index: Any
    if chosen == "hnsw":
        index = faiss.IndexHNSWFlat(matrix.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        info = _hnsw_info()
    else:
        index = faiss.IndexFlatIP(matrix.shape[1])
        info = {"type": VECTOR_INDEX_TYPES["flat"]}
    if len(matrix):
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # building the graph uses every core
        try:
            index.add(np.ascontiguousarray(matrix, dtype=np.float32))
        finally:
            faiss.omp_set_num_threads(threads)
    faiss.write_index(index, str(path))
    return info


# An incremental build patches the previous HNSW graph (removed chunks' nodes taken out, new chunks inserted)
# while the rows patched since the graph's last full build (manifest faiss_params.patched_rows, this build's
# included) stay within this share of the index; past it the graph is built afresh, so the repairs of many
# small patches never add up to a worse graph. Measured in docs/PERFORMANCE.md ("Incremental HNSW").
HNSW_PATCH_SHARE = 0.2


@dataclass
class PreviousVectors:
    """The current build's vector index, read once and checked against its manifest digest, with the chunk
    hash of each row: the source of reused vectors and, for HNSW, of the graph an incremental build patches."""

    index: Any  # faiss.Index
    hashes: list[str]
    manifest: dict[str, Any]

    def matrix(self) -> np.ndarray:
        n, d = int(self.index.ntotal), int(self.index.d)
        return self.index.reconstruct_n(0, n) if n else np.zeros((0, d), dtype=np.float32)

    def view(self) -> np.ndarray:
        """The vectors as `matrix` gives them, read in place from the index's flat storage (no copy of it)
        where the index has one (read-only; valid while this object lives and its index is not changed:
        `patch_hnsw` builds a new index and leaves it as it is)."""
        import faiss

        n, d = int(self.index.ntotal), int(self.index.d)
        index = faiss.downcast_index(self.index)
        storage = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index
        if n == 0 or not isinstance(storage, faiss.IndexFlat) or int(storage.ntotal) != n:
            return self.matrix()
        view = faiss.rev_swig_ptr(storage.get_xb(), n * d).reshape(n, d)
        view.flags.writeable = False
        return view


def read_faiss(read: Callable[[int], bytes]) -> Any:
    """A FAISS index read through `read` (the file's next bytes: a `bot.index.Loader`, whose caller hashes every
    byte it reads), block by block, with no copy of the whole file in memory."""
    import faiss

    return faiss.read_index(faiss.PyCallbackIOReader(read))  # type: ignore[attr-defined]


def read_previous(
    root: Path,
    model: str,
    dim: int,
    *,
    verified: bytes | None = None,
    hashes: list[str] | None = None,
    index: Any = None,
) -> PreviousVectors | None:
    """The current build's vectors when it was built with `model` and `dim` and its vector file's bytes
    match the manifest's digest (None otherwise: a damaged index is never the base of a new one).
    `verified`: the bytes of its vectors.faiss, already checked against its manifest by the caller
    (`check_files(…, keep=…)`), used instead of reading and hashing the file again; `hashes`: its chunk
    store's hash of every row, when the caller read them already; `index`: its vectors.faiss read as it was
    checked against its manifest by the caller (`check_files(…, load={"vectors.faiss": read_faiss})`)."""
    build = resolve_build(root)
    if build is None:
        return None
    try:
        import faiss

        manifest = read_manifest(build)
        if manifest.get("model") != model or manifest.get("dimension") != dim:
            return None
        if index is None:
            data = verified
            if data is None:
                data = (build / "vectors.faiss").read_bytes()
                if hashlib.sha256(data).hexdigest() != manifest.get("files", {}).get("vectors.faiss"):
                    raise IndexCorrupt(f"{build / 'vectors.faiss'} differs from its manifest checksum")
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
            del data, verified
        if hashes is None:
            db = sqlite3.connect(f"file:{build / 'chunks.sqlite'}?mode=ro", uri=True)
            try:
                hashes = [r[0] for r in db.execute("SELECT hash FROM chunks ORDER BY row")]
            finally:
                db.close()
        if len(hashes) != index.ntotal or index.d != dim:
            raise IndexCorrupt(f"{len(hashes)} chunks but {index.ntotal} vectors of dimension {index.d}")
        return PreviousVectors(index, hashes, manifest)
    except Exception as exc:  # a damaged old index only costs re-embedding
        log.warning("not reusing vectors from %s: %s", build, exc)
        return None


def previous_vectors(root: Path, model: str, dim: int) -> dict[str, np.ndarray]:
    """hash -> vector from the current index, when it was built with the same model."""
    prev = read_previous(root, model, dim)
    if prev is None:
        return {}
    matrix = prev.matrix()
    return {h: matrix[i] for i, h in enumerate(prev.hashes)}


@dataclass
class RowVectors:
    """A new build's vectors, without a matrix of them all: row i is row `old_at[i]` of `old` (the previous
    build's vectors, read in place) where that is >= 0, else `extra[i]`. A full build makes the matrix
    (`array`); a patched graph copies only the rows it needs, straight into the new index's storage, so the
    150 MB of a 100,000-row matrix are neither allocated nor copied once more."""

    old: np.ndarray
    old_at: np.ndarray
    extra: dict[int, np.ndarray]
    dim: int

    @classmethod
    def of(cls, matrix: np.ndarray) -> RowVectors:
        """The rows of a matrix."""
        matrix = np.asarray(matrix, dtype=np.float32)
        return cls(matrix, np.arange(len(matrix), dtype=np.int64), {}, int(matrix.shape[1]))

    def __len__(self) -> int:
        return len(self.old_at)

    def take(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The vectors of `rows`, into `out` when given."""
        rows = np.asarray(rows, dtype=np.int64)
        if out is None:
            out = np.empty((len(rows), self.dim), dtype=np.float32)
        at = self.old_at[rows]
        if len(self.old) and len(rows):
            np.take(self.old, np.maximum(at, 0), axis=0, out=out, mode="clip")  # "raise" would buffer it all
        for k in np.flatnonzero(at < 0).tolist():
            out[k] = self.extra[int(rows[k])]
        return out

    def array(self) -> np.ndarray:
        return self.take(np.arange(len(self), dtype=np.int64))


def row_sources(old_hashes: list[str], new_hashes: list[str]) -> np.ndarray:
    """For each new row, an old row holding the same chunk text (each old row used once), or -1: new."""
    free: dict[str, list[int]] = {}
    for row in range(len(old_hashes) - 1, -1, -1):
        free.setdefault(old_hashes[row], []).append(row)
    src = np.full(len(new_hashes), -1, dtype=np.int64)
    for j, h in enumerate(new_hashes):
        rows = free.get(h)
        if rows:
            src[j] = rows.pop()
    return src


@dataclass
class VectorPatch:
    """What an incremental HNSW build did: rows kept from the previous graph, removed from it, added to it."""

    kept: int
    removed: int
    added: int
    repaired: int  # neighbour lists that lost a removed node and were refilled


MASK_MAX_REMOVED = 1000  # patch_hnsw: up to this many removed nodes, their lists are masked out of the old array


def patch_hnsw(old: Any, src: np.ndarray, matrix: np.ndarray | RowVectors) -> tuple[Any, VectorPatch]:
    """A new IndexHNSWFlat of `matrix` (row j = new chunk j) made from the previous graph `old`: `src[j]` is
    the old row holding row j's vector (-1: a new row). Nodes of old rows no row keeps are taken out of the
    graph (each neighbour list that pointed at one is refilled with the closest of the removed node's own
    neighbours), kept nodes keep their links, new rows are inserted by FAISS's own HNSW insertion, and the
    result is permuted into row order, so it is the same kind of file a full build writes (row = FAISS id).

    Few large arrays are made (each fresh one costs page faults on top of the copy): the old graph's
    neighbour lists are read in place, links are int32 as FAISS keeps them, the new storage is allocated
    once with room for the inserted rows (FAISS's own `add` would grow it by a copy), and after insertion
    only the graph is permuted while `matrix`, which is the storage in row order, is copied over it."""
    import faiss

    n_old, dim = int(old.ntotal), int(old.d)
    rows = matrix if isinstance(matrix, RowVectors) else RowVectors.of(matrix)
    hnsw = old.hnsw
    levels = faiss.vector_to_array(hnsw.levels).astype(np.int64)
    offsets = faiss.vector_to_array(hnsw.offsets).astype(np.int64)
    neighbors = _vector_view(hnsw.neighbors, np.int32)  # read only; `old` is left as it is
    cum = faiss.vector_to_array(hnsw.cum_nneighbor_per_level).astype(np.int64)
    new_rows = np.flatnonzero(src >= 0)
    added_rows = np.flatnonzero(src < 0)
    keep = src[new_rows]  # old ids of the kept nodes, in new row order
    pos = np.full(n_old + 1, -1, dtype=np.int32)  # old id -> kept node number (index n_old: the -1 padding)
    pos[keep] = np.arange(len(keep), dtype=np.int32)

    # the kept nodes' neighbour lists, renumbered; a removed neighbour becomes -1
    sizes = offsets[keep + 1] - offsets[keep]
    new_offsets = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(sizes, out=new_offsets[1:])
    removed = np.flatnonzero(pos[:n_old] < 0)
    in_order = len(keep) > 0 and bool(np.all(np.diff(keep) > 0)) and int(offsets[n_old]) == len(neighbors)
    if in_order and len(removed) <= MASK_MAX_REMOVED:
        # kept nodes in their old order (the common case): their lists are the old array without the few
        # removed nodes' lists, which a mask takes out (no index array over every link)
        mask = np.ones(len(neighbors), dtype=bool)
        for r in removed.tolist():
            mask[offsets[r] : offsets[r + 1]] = False
        old_links = neighbors[mask]
        del mask
    else:
        gather = np.arange(int(new_offsets[-1]), dtype=np.int64) + np.repeat(offsets[keep] - new_offsets[:-1], sizes)
        old_links = neighbors[gather]
        del gather
    links = pos[np.where(old_links >= 0, old_links, n_old)]
    lost = np.flatnonzero((old_links >= 0) & (links < 0))

    # refill each neighbour list (one node, one level) that lost a node: FAISS stops reading a list at its
    # first -1, so the list is compacted and its free slots take the removed nodes' closest neighbours
    segments: set[tuple[int, int]] = set()
    for p in lost.tolist():
        node = int(np.searchsorted(new_offsets, p, side="right") - 1)
        rel = p - int(new_offsets[node])
        level = int(np.searchsorted(cum, rel, side="right") - 1)
        segments.add((node, level))
    for node, level in sorted(segments):
        a = int(new_offsets[node] + cum[level])
        b = int(new_offsets[node] + cum[level + 1])
        seg_old = old_links[a:b]
        seg = links[a:b]
        have = [int(x) for x in seg if x >= 0]
        gone = [int(x) for x, y in zip(seg_old, seg, strict=True) if x >= 0 and y < 0]
        cands: set[int] = set()
        for r in gone:  # the removed node's own neighbours at this level, when they are kept
            ra = int(offsets[r] + cum[level])
            rb = int(offsets[r] + cum[level + 1])
            for x in neighbors[ra:rb].tolist():
                if x >= 0 and pos[x] >= 0:
                    cands.add(int(pos[x]))
        cands.discard(node)
        cands.difference_update(have)
        best = sorted(cands)
        if best:
            sims = rows.take(new_rows[best]) @ rows.take(new_rows[[node]])[0]  # kept node i holds row new_rows[i]
            best = [best[i] for i in np.argsort(-sims, kind="stable")]
        filled = (have + best)[: b - a]
        links[a:b] = -1
        links[a : a + len(filled)] = filled
    del old_links

    index = faiss.IndexHNSWFlat(dim, int((cum[2] - cum[1]) if len(cum) > 2 else HNSW_M), faiss.METRIC_INNER_PRODUCT)
    graph: Any = index.hnsw
    graph.efConstruction = hnsw.efConstruction
    graph.efSearch = HNSW_EF_SEARCH
    n = len(src)
    storage: Any = faiss.downcast_index(index.storage)
    if n:
        # room for every row at once: the kept rows' vectors now (in kept order), the added rows' by `add`
        storage.codes.resize(n * storage.code_size)
        vectors = faiss.rev_swig_ptr(storage.get_xb(), n * dim).reshape(n, dim)
        rows.take(new_rows, out=vectors[: len(keep)])
        storage.codes.resize(len(keep) * storage.code_size)  # the capacity stays: `add` below does not copy
        storage.ntotal = len(keep)
    if len(keep):
        index.ntotal = len(keep)
        new_levels = levels[keep]
        faiss.copy_array_to_vector(new_levels.astype(np.int32), graph.levels)
        faiss.copy_array_to_vector(new_offsets.astype(np.uint64), graph.offsets)
        faiss.copy_array_to_vector(links, graph.neighbors)
        entry = int(hnsw.entry_point)
        if entry < 0 or pos[entry] < 0:  # the entry point was removed: a kept node of the highest level
            entry = int(keep[int(np.argmax(new_levels))])
        graph.entry_point = int(pos[entry])
        graph.max_level = int(new_levels.max()) - 1
    del links, pos
    if len(added_rows):
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        try:
            index.add(rows.take(added_rows))
        finally:
            faiss.omp_set_num_threads(threads)
    perm = np.empty(n, dtype=np.int64)  # row j <- node perm[j] of the patched graph
    perm[new_rows] = np.arange(len(new_rows))
    perm[added_rows] = len(new_rows) + np.arange(len(added_rows))
    if n:
        # the graph into row order; the storage in row order is the rows' vectors, copied over it in place
        graph.permute_entries(faiss.swig_ptr(perm))
        vectors = faiss.rev_swig_ptr(storage.get_xb(), n * dim).reshape(n, dim)
        rows.take(np.arange(n, dtype=np.int64), out=vectors)
    return index, VectorPatch(len(keep), n_old - len(keep), len(added_rows), len(segments))


def _vector_view(vector: Any, dtype: Any) -> np.ndarray:
    """A read-only numpy view of a FAISS vector's elements (no copy)."""
    import faiss

    n = int(vector.size())
    if n == 0:
        return np.zeros(0, dtype=dtype)
    view = faiss.rev_swig_ptr(vector.data(), n)
    assert view.dtype == np.dtype(dtype)
    view.flags.writeable = False
    return view


def update_vectors(
    path: Path,
    matrix: np.ndarray | RowVectors,
    hashes: list[str],
    previous: PreviousVectors | None,
    *,
    previous_matrix: np.ndarray | None = None,
    copied_from: np.ndarray | None = None,
    sources: np.ndarray | None = None,
    kind: str = "flat",
    threshold: int = HNSW_THRESHOLD,
) -> tuple[dict[str, Any], VectorPatch | None]:
    """Write the vector index of `matrix` (row i = chunk i, whose hash is `hashes[i]`) to `path`: an HNSW
    index patched from `previous` (the verified current build) when both are HNSW with the same parameters
    and few rows changed (see HNSW_PATCH_SHARE), else built in full by `write_vectors`. Returns the
    manifest's description and what the patch did (None: built in full).

    `copied_from[i]` (when given): the row of `previous_matrix` that row i of `matrix` is a copy of, or -1.
    The kept rows' vectors are compared with the previous build's only where the row they take in the graph
    is not the row they were copied from (the same chunk text in more than one row). `sources`: what
    `row_sources(previous.hashes, hashes)` gives, when the caller has it already. `matrix` may be a
    `RowVectors`: its matrix is then made only when the graph is built in full."""
    import faiss

    rows = matrix if isinstance(matrix, RowVectors) else RowVectors.of(matrix)

    chosen = choose_vector_index(len(matrix), kind, threshold=threshold)
    patch_from = _patch_base(previous, chosen)
    if patch_from is not None and previous is not None:
        src = row_sources(previous.hashes, hashes) if sources is None else sources
        assert len(src) == len(hashes)
        kept = np.flatnonzero(src >= 0)
        changed = (len(previous.hashes) - len(kept)) + (len(matrix) - len(kept))
        patched = int(previous.manifest.get("faiss_params", {}).get("patched_rows", 0)) + changed
        old_matrix = previous.matrix() if previous_matrix is None else previous_matrix
        if len(kept) == 0 or patched > HNSW_PATCH_SHARE * len(matrix):
            log.info("rebuilding the HNSW graph in full: %d rows patched since its last full build", patched)
        elif not _same_vectors(old_matrix, src, kept, rows, copied_from):
            log.warning("rebuilding the HNSW graph in full: the previous build's vectors differ from the reused ones")
        else:
            index, patch = patch_hnsw(patch_from, src, rows)
            faiss.write_index(index, str(path))
            return {**_hnsw_info(), "patched_rows": patched}, patch
    info = write_vectors(
        path, rows.array() if isinstance(matrix, RowVectors) else matrix, kind=kind, threshold=threshold
    )
    if info["type"] == VECTOR_INDEX_TYPES["hnsw"]:
        info["patched_rows"] = 0
    return info, None


def _same_vectors(
    old_matrix: np.ndarray, src: np.ndarray, kept: np.ndarray, rows: RowVectors, copied_from: np.ndarray | None
) -> bool:
    """Whether each kept row's vector (`rows.take(kept)`) equals the vector of the old row it takes
    (`old_matrix[src[kept]]`). A row copied from that very old row holds it by construction."""
    if copied_from is not None and len(copied_from) == len(rows):
        kept = kept[copied_from[kept] != src[kept]]
    return bool(np.array_equal(old_matrix[src[kept]], rows.take(kept)))


def _hnsw_info() -> dict[str, Any]:
    return {"type": VECTOR_INDEX_TYPES["hnsw"], "M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION,
            "efSearch": HNSW_EF_SEARCH}  # fmt: skip


def _patch_base(previous: PreviousVectors | None, chosen: str) -> Any:
    """The previous build's HNSW index when a new HNSW index can be patched from it (same type and
    parameters as this code builds), else None."""
    import faiss

    if previous is None or chosen != "hnsw" or previous.manifest.get("faiss") != VECTOR_INDEX_TYPES["hnsw"]:
        return None
    index = faiss.downcast_index(previous.index)
    if not isinstance(index, faiss.IndexHNSWFlat) or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        return None
    params = previous.manifest.get("faiss_params") or {}
    if (params.get("M"), params.get("efConstruction")) != (HNSW_M, HNSW_EF_CONSTRUCTION):
        return None
    return index
