"""Hybrid retrieval: dense (FAISS, cosine) and BM25 candidates, fused into one ranking of chunks.

The default ("final") ranking was chosen by measurement with `bot eval` on SciFact train, NFCorpus dev
and MedQuAD dev (docs/EVALUATION.md): a chunk's cosine similarity to the question, less a small penalty
for very short chunks, plus the BM25 score of its whole document (title and text, scaled by the best
document's score). Meaning is judged on the passage, words on the document.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .embedding import Embedder
from .focus import find_focus, question_types
from .index import Index, document_text
from .lexical import Lexical
from .ranker import FEATURES, Ranker, load_ranker, reciprocal
from .shapes import from_store as shapes_from_store
from .shapes import read as read_shapes
from .shapes import type_bits
from .spelling import corrected
from .vectors import FILTER_EXACT_FACTOR, FILTER_EXACT_ROWS

METHODS = ("bm25", "dense", "hybrid", "final", "learned")
# "final" = cosine - short-chunk penalty + DOC_LEXICAL_WEIGHT * document BM25 / best document BM25
DOC_LEXICAL_WEIGHT = 0.3
# A chunk shorter than SHORT_CHUNK_CHARS is embedded mostly as its title (which every chunk carries), so
# it looks closer to any question naming the topic than it is; it loses up to SHORT_CHUNK_PENALTY.
SHORT_CHUNK_CHARS = 400
SHORT_CHUNK_PENALTY = 0.15
# A chunk in a section the question asks about (a dose question and Dosage and Administration) gains this.
SECTION_BOOST = 0.2
# The learned ranking also sees the passages of the documents titled with the question's focus (at most
# FOCUS_MAX_DOCS documents, FOCUS_MAX_ROWS passages), when neither retriever returned them.
FOCUS_MAX_DOCS = 20
FOCUS_MAX_ROWS = 64


@dataclass
class Candidates:
    """Per-row scores for the union of both retrievers' candidates."""

    rows: np.ndarray
    dense: np.ndarray  # cosine similarity of every candidate (computed exactly, also for BM25-only rows)
    bm25: np.ndarray  # BM25 score (0 when BM25 did not match)
    dense_rank: np.ndarray  # 1-based rank in the dense list (inf when absent)
    bm25_rank: np.ndarray
    bm25_doc: np.ndarray | None = None  # BM25 score of each candidate's whole document (0: no match)
    focus: np.ndarray | None = None  # each candidate's document is titled with the question's focus
    qtypes: int = 0  # the question's types (bit i: focus.QTYPE_NAMES[i])
    extra: np.ndarray | None = None  # rows added for the focus (only the learned ranking sees them)


class DenseStore(Protocol):
    """Vector search outside the local FAISS file (bot/milvus_store.py): the same rows, the same scores.
    The cosine of a BM25-only candidate is still computed from the local file's vector, which every build
    holds: 0.01 ms for 100 rows, where fetching them from Milvus Lite by key took 17 ms (docs/PERFORMANCE.md)."""

    def search(self, qvec: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...


class Searcher:
    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        *,
        candidates: int = 100,
        ranker_file: Path | None = None,
        dense_store: DenseStore | None = None,
    ) -> None:
        if embedder.dim != index.manifest.get("dimension"):
            from .index import IndexMismatch

            raise IndexMismatch(
                f"index at {index.path} has dimension {index.manifest.get('dimension')} but model "
                f"{embedder.name!r} gives {embedder.dim}: rebuild with `bot index`"
            )
        self.index = index
        self.embedder = embedder
        self.k = candidates
        self._flat = index.vectors
        self.exact_rows = FILTER_EXACT_ROWS
        self.exact_factor = FILTER_EXACT_FACTOR
        self.doc_lexical = index.doc_lexical if index.doc_lexical is not None else document_lexical(index)
        self.short_penalty = short_chunk_penalty(index)
        self.focus_titles, self.row_types = question_shapes(index)
        # answer analysis and candidate search both need a question's focus: found once (the spelling fix
        # behind it scans the vocabulary for each word the index does not hold)
        self.focus_of: Callable[[str], str | None] = functools.lru_cache(maxsize=256)(self._find_focus)
        self._ranker: Ranker | None = None
        self.ranker_file = ranker_file
        self.dense_store = dense_store  # None: the local FAISS index

    @property
    def ranker(self) -> Ranker:
        if self._ranker is None:
            self._ranker = load_ranker(self.ranker_file)
        return self._ranker

    def _find_focus(self, question: str) -> str | None:
        """The title key of the focus lexicon that the question names, misspellings fixed (bot/focus.py)."""
        vocab = self.index.lexical.vocab
        return find_focus(question, self.focus_titles, lambda stem: corrected(stem, vocab, ()))

    def embed(self, question: str) -> np.ndarray:
        return self.embedder.encode([question])[0]

    def dense(self, qvec: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top `k` (rows, cosine) by vector search, only among rows where `mask` is true when given.

        Flat indexes search exactly. HNSW searches approximately with a beam of at least 2k, widened in
        proportion to what a kind filter leaves out; when exact search over the rows the filter leaves is
        cheaper than that widened search (see FILTER_EXACT_FACTOR), they are searched exactly instead.
        With a `dense_store` (Milvus), the store searches, with the same filter."""
        if self.dense_store is not None:
            return self.dense_store.search(qvec, k, mask)
        import faiss

        n = self.index.size
        empty = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if n == 0:
            return empty
        vectors = self.index.vectors
        query = np.ascontiguousarray(qvec, dtype=np.float32).reshape(1, -1)
        k = min(k, n)
        selector = None
        allowed = n
        if mask is not None:
            allowed = int(np.count_nonzero(mask))
            if allowed == 0:
                return empty
            bitmap = np.packbits(mask.astype(bool), bitorder="little")  # kept alive until the search returns
            selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
        hnsw = getattr(vectors, "hnsw", None)
        beam = max(int(hnsw.efSearch), 2 * k) if hnsw is not None else 0  # 2k: recall@100 0.90 -> 0.95 at 1M rows
        if (
            selector is not None
            and hnsw is not None
            and (allowed <= self.exact_rows or allowed * allowed <= self.exact_factor * beam * n)
        ):
            vectors = faiss.downcast_index(vectors.storage)  # the exact vectors behind the graph
            hnsw = None
        if hnsw is not None:
            ef = beam * n // allowed
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=min(ef, n))  # type: ignore[attr-defined]
        else:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None  # type: ignore[call-arg]
        scores, rows = vectors.search(query, k, params=params)
        keep = rows[0] >= 0
        return rows[0][keep].astype(np.int64), scores[0][keep]

    def candidates(
        self,
        question: str,
        *,
        kinds: list[str] | None = None,
        qvec: np.ndarray | None = None,
        allow: np.ndarray | None = None,
    ) -> Candidates:
        """Candidates from both retrievers, among rows of `kinds` (and where `allow` is true, when given)."""
        mask = self.index.kind_mask(kinds)
        if allow is not None:
            mask = allow if mask is None else (mask & allow)
        qvec = self.embed(question) if qvec is None else qvec
        d_rows, d_scores = self.dense(qvec, self.k, mask)
        b_rows, b_scores = self.index.lexical.search(question, self.k, mask=mask)
        focus_docs = self.focus_titles.get(self.focus_of(question) or "", [])[:FOCUS_MAX_DOCS]
        found = list(dict.fromkeys([*d_rows.tolist(), *b_rows.tolist()]))
        extra_rows: list[int] = []
        if focus_docs:  # the passages of the documents about the focus, when neither retriever found them
            on = (
                np.isin(self.index.doc_of_row, focus_docs)
                if mask is None
                else (np.isin(self.index.doc_of_row, focus_docs) & mask)
            )
            have = set(found)
            extra_rows = [r for r in np.flatnonzero(on)[:FOCUS_MAX_ROWS].tolist() if r not in have]
        rows = np.array(found + extra_rows, dtype=np.int64)
        dense = np.zeros(len(rows), dtype=np.float32)
        bm25 = np.zeros(len(rows), dtype=np.float32)
        d_rank = np.full(len(rows), np.inf)
        b_rank = np.full(len(rows), np.inf)
        pos = {r: i for i, r in enumerate(rows.tolist())}
        for rank, (r, s) in enumerate(zip(d_rows.tolist(), d_scores.tolist(), strict=True), 1):
            dense[pos[r]], d_rank[pos[r]] = s, rank
        for rank, (r, s) in enumerate(zip(b_rows.tolist(), b_scores.tolist(), strict=True), 1):
            bm25[pos[r]], b_rank[pos[r]] = s, rank
        missing = [pos[r] for r in [*b_rows.tolist(), *extra_rows] if not np.isfinite(d_rank[pos[r]])]
        if missing:
            vecs = self.index.vectors.reconstruct_batch(rows[missing])
            dense[missing] = vecs @ qvec
        doc_scores = self.doc_lexical.scores(question) if self.doc_lexical is not None else None
        bm25_doc = (
            doc_scores[self.index.doc_of_row[rows]] if doc_scores is not None else np.zeros(len(rows), np.float32)
        )
        on_focus = np.isin(self.index.doc_of_row[rows], focus_docs) if focus_docs else np.zeros(len(rows), bool)
        extra = np.zeros(len(rows), dtype=bool)
        extra[len(found) :] = True
        qtypes = type_bits(question_types(question))
        return Candidates(rows, dense, bm25, d_rank, b_rank, bm25_doc, on_focus, qtypes, extra)

    def search(
        self, question: str, *, method: str = "final", kinds: list[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ranked rows and scores for one method, doing only the work that method needs."""
        if method == "bm25":
            return self.index.lexical.search(question, self.k, mask=self.index.kind_mask(kinds))
        if method == "dense":
            return self.dense(self.embed(question), self.k, self.index.kind_mask(kinds))
        return self.rank(self.candidates(question, kinds=kinds), method)

    def rank(
        self, cands: Candidates, method: str = "final", *, prefer: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows and fused scores, best first, for one retrieval method. With `prefer` (a boolean per index
        row: the sections the question asks about), "final" adds SECTION_BOOST to those rows."""
        if method == "dense":
            score = np.where(np.isfinite(cands.dense_rank), cands.dense, -np.inf)
        elif method == "bm25":
            score = np.where(cands.bm25 > 0, cands.bm25, -np.inf)
        elif method == "hybrid":  # plain reciprocal rank fusion
            score = 1.0 / (60 + cands.dense_rank) + 1.0 / (60 + cands.bm25_rank)
        elif method == "learned":
            score = self.ranker.score(self.features(cands))
            if prefer is not None:
                score = score + SECTION_BOOST * prefer[cands.rows]
        elif method == "final":
            lexical = cands.bm25_doc if cands.bm25_doc is not None else cands.bm25
            top = float(lexical.max()) if len(lexical) else 0.0
            lex = lexical / top if top > 0 else lexical
            penalty = self.short_penalty[cands.rows] if len(self.short_penalty) else 0.0
            score = cands.dense - penalty + DOC_LEXICAL_WEIGHT * lex
            if prefer is not None:
                score = score + SECTION_BOOST * prefer[cands.rows]
        else:
            raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        if method != "learned" and cands.extra is not None:
            score = np.where(cands.extra, -np.inf, score)
        order = np.argsort(-score, kind="stable")
        order = order[np.isfinite(score[order])]
        return cands.rows[order], score[order].astype(np.float32)

    def features(self, cands: Candidates) -> np.ndarray:
        """One row of ranker.FEATURES per candidate."""
        n = len(cands.rows)
        out = np.zeros((n, len(FEATURES)), dtype=np.float32)
        if n == 0:
            return out
        doc = cands.bm25_doc if cands.bm25_doc is not None else np.zeros(n, np.float32)
        top, top_doc = float(cands.bm25.max()), float(doc.max())
        out[:, 0] = cands.dense
        out[:, 1] = cands.bm25 / top if top > 0 else 0.0
        out[:, 2] = doc / top_doc if top_doc > 0 else 0.0
        out[:, 3] = self.short_penalty[cands.rows] if len(self.short_penalty) else 0.0
        out[:, 4] = reciprocal(cands.dense_rank)
        out[:, 5] = reciprocal(cands.bm25_rank)
        out[:, 6] = cands.focus if cands.focus is not None else 0.0
        if cands.qtypes and len(self.row_types) and cands.focus is not None and cands.focus.any():
            # the type of a question counts only when it names its focus: MedQuAD, where it was learnt, always
            # does; "What causes muscle weakness?" is no reason to prefer any page that answers a "causes" question
            row_types = self.row_types[cands.rows]
            match = (row_types & cands.qtypes) != 0
            out[:, 7] = match
            out[:, 8] = (row_types != 0) & ~match
            out[:, 9] = out[:, 6] * out[:, 7]
        return out


def document_lexical(index: Index) -> Lexical | None:
    """A BM25 index over whole documents (title and text), built in memory from the chunk store, with one
    row per document number of `index.doc_of_row` (about 3 s per 10,000 documents): for an index built
    before `bot index` wrote it (`bm25_doc/`)."""
    if index.db is None or not index.doc_ids:  # a vectors-only index (benchmarks)
        return None
    texts = {
        d: document_text(d, title, text) for d, title, text in index.db.execute("SELECT id, title, text FROM documents")
    }
    return Lexical.build([texts.get(doc_id, "") for doc_id in index.doc_ids])


def short_chunk_penalty(index: Index) -> np.ndarray:
    """Per chunk row: how much the final ranking takes off a short chunk's cosine similarity."""
    if index.db is None:  # a vectors-only index (benchmarks): no penalty
        return np.zeros(0, dtype=np.float32)
    # a guideline's short chunk is a whole recommendation ("Recommendation 3" is one sentence), not a title
    # with a scrap of text: it keeps its cosine
    rows = list(index.db.execute("SELECT \"end\" - start, kind = 'guideline' FROM chunks ORDER BY row"))
    lengths = np.array([n for n, _ in rows], np.float32)
    whole = np.array([bool(g) for _, g in rows], bool)
    penalty = SHORT_CHUNK_PENALTY * np.clip(1.0 - lengths / SHORT_CHUNK_CHARS, 0.0, 1.0)
    return np.where(whole, 0.0, penalty).astype(np.float32)


def question_shapes(index: Index) -> tuple[dict[str, list[int]], np.ndarray]:
    """The index's focus lexicon (short document titles -> document numbers) and, per chunk row, the
    question types its section heading, or else the question its document answers, asks (bit mask): as the
    build stored them (`bot/shapes.py`), else computed from its chunk store."""
    if index.db is None:  # a vectors-only index (benchmarks)
        return {}, np.zeros(0, dtype=np.int32)
    shapes = read_shapes(index.path, index.manifest, index.size, index.doc_ids)
    if shapes is None:
        shapes = shapes_from_store(index.db, index.doc_ids)
    return shapes.lexicon(), shapes.rows
