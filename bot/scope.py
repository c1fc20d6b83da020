"""What an answer may read and quote for a question: the rows of the sources about what it names
(`allowed_rows`), the passages it reads besides the ranking's best (`answer_rows`), the question's most
specific topic word (`rarest_topic`) and whether a text names what it asks about (`names_entity`)."""

from __future__ import annotations

import numpy as np

from .index import Index
from .lexical import TOKEN_RE, tokenize
from .query import Query
from .search import Candidates, Searcher


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
) -> tuple[np.ndarray, np.ndarray]:
    """The ranking's first `top_k` rows, and after them the passages whose own words say the question's topic
    best (the first `extra`, bot.answer.LEXICAL_EXTRA, by BM25 over its topic words), if the ranking put them
    lower: a guideline's one-sentence recommendation is a short chunk, which the ranking marks down, but it is
    the passage that answers. What the question asks about it ("together", "dose") is no reason to add a
    passage."""
    words = [w for w in TOKEN_RE.findall(query.for_search) if set(tokenize(w)) & query.topic]
    if extra <= 0 or not words:
        return rows[:top_k], scores[:top_k]
    best, _ = searcher.index.lexical.search(" ".join(words), extra)
    keep = (np.arange(len(rows)) < top_k) | np.isin(rows, best)
    return rows[keep], scores[keep]


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
