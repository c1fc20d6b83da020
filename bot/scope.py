"""What an answer may read and quote for a question: the rows of the sources about what it names
(`allowed_rows`), the passages it reads besides the ranking's best (`answer_rows`), the question's most
specific topic word (`rarest_topic`) and whether a text names what it asks about (`names_entity`)."""

from __future__ import annotations

import numpy as np

from .index import Index
from .lexical import TOKEN_RE, tokenize
from .query import Query
from .quotes import GRADE_RE
from .search import Candidates, Searcher

GRADED_WINDOW = 150  # how far below the ranking's top rows a guideline's graded recommendation is looked for


def allowed_rows(index: Index, query: Query) -> np.ndarray | None:
    """Rows an answer may quote when the question names drugs the index has labels for: every row of
    documents that are not drug labels, and the rows of the labels about those drugs. None: no limit."""
    if not query.entities or not index.doc_kinds:
        return None
    about = set().union(*(index.entity_lexicon.get(e, set()) for e in query.entities))
    labels = [i for i, k in enumerate(index.doc_kinds) if k == "drug_label" and i not in about]
    if not labels:
        return None
    return ~np.isin(index.doc_of_row, labels)


def answer_rows(
    rows: np.ndarray,
    scores: np.ndarray,
    cands: Candidates,
    query: Query,
    searcher: Searcher,
    top_k: int,
    *,
    extra: int,
    graded: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The ranking's first `top_k` rows, and after them the passages whose own words say the question's topic
    best (the first `extra`, bot.answer.LEXICAL_EXTRA, by BM25 over its topic words), if the ranking put them
    lower: a guideline's one-sentence recommendation is a short chunk, which the ranking marks down, but it is
    the passage that answers. What the question asks about it ("together", "dose") is no reason to add a
    passage."""
    words = [w for w in TOKEN_RE.findall(query.for_search) if set(tokenize(w)) & query.topic]
    keep = np.arange(len(rows)) < top_k
    if extra > 0 and words:
        best, _ = searcher.index.lexical.search(" ".join(words), extra)
        keep |= np.isin(rows, best)
    if graded > 0:
        keep |= np.isin(rows, graded_rows(rows, top_k, query, searcher.index, graded))
    return rows[keep], scores[keep]


def graded_rows(rows: np.ndarray, top_k: int, query: Query, index: Index, limit: int) -> list[int]:
    """The first `limit` rows below the top `top_k` that hold a graded recommendation ("… (recommendation
    category: B; evidence type: 4)") of a guideline the top rows come from, and say two of the question's
    topic words: the recommendation that a guideline then discusses for pages ranks below its discussion."""
    kinds = index.doc_kinds
    if not kinds or len(rows) <= top_k:
        return []
    docs = {int(d) for d in index.doc_of_row[rows[:top_k]] if kinds[int(d)] == "guideline"}
    later = [int(r) for r in rows[top_k : top_k + GRADED_WINDOW] if int(index.doc_of_row[r]) in docs]
    if not later:
        return []
    chunks = index.chunks(later)
    need = min(2, len(query.topic))
    out = [
        r for r in later
        if r in chunks and GRADE_RE.search(chunks[r].text)
        and len(query.said_by(set(tokenize(chunks[r].text))) & query.topic) >= need
    ]  # fmt: skip
    return out[:limit]


def rarest_topic(query: Query, searcher: Searcher) -> str:
    """The question's most specific topic word that some source holds: the one fewest documents hold
    ("acetaminophen" in "What is the maximum daily dose of acetaminophen?", though the guideline that holds
    it says it in more passages than the labels say "maximum"); "" when it has none."""
    known = sorted(query.topic & query.known)
    if not known:
        return ""
    docs = searcher.doc_lexical
    return max(known, key=lambda t: (docs.idf(t) if docs is not None else 0.0, query.terms.get(t, 0.0)))


def names_entity(text: str, entities: tuple[str, ...]) -> bool:
    """Whether `text` names one of `entities` (the question's labelled drugs) as whole words."""
    low = " " + " ".join(TOKEN_RE.findall(text.lower())) + " "
    return any(f" {e} " in low for e in entities)
