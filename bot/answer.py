"""Answer assembly with no generative model: pick source sentences, group them by kind, cite them.

Every bullet's `quote` is `document.text[start:end]` of the cited document, exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .documents import Answer, AnswerSection, Bullet, Chunk, Reference, kind_heading, kind_order
from .index import Index
from .lexical import tokenize
from .search import Candidates, Searcher

DECLINE_MESSAGE = (
    "I could not find this in the sources I have. Try rephrasing the question, or ask about a topic "
    "the indexed documents cover."
)
MIN_QUOTE_CHARS = 25
# Abstention (docs/EVALUATION.md): answer when the best chunk's cosine similarity reaches `min_score`,
# or, above FULL_MATCH_MIN_COSINE, when one of the top chunks (with its title) holds every word of the
# question (FULL_MATCH_COVERAGE of their idf weight; a word the index has never seen weighs most).
FULL_MATCH_MIN_COSINE = 0.30
FULL_MATCH_COVERAGE = 0.99
MAX_QUOTES_PER_CHUNK = 3
DUPLICATE_JACCARD = 0.7
WORD_RE = re.compile(r"\w+")


@dataclass
class AnswerPolicy:
    top_k: int = 8
    max_bullets: int = 10
    max_bullets_per_section: int = 4
    min_score: float = 0.56
    method: str = "final"


@dataclass
class _Candidate:
    doc_id: str
    start: int
    end: int
    quote: str
    kind: str
    score: float
    words: frozenset[str]


def _coverage(question_terms: dict[str, float], sentence: str) -> float:
    total = sum(question_terms.values())
    if total <= 0:
        return 0.0
    present = set(tokenize(sentence))
    return sum(w for t, w in question_terms.items() if t in present) / total


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def build_answer(
    question: str,
    searcher: Searcher,
    policy: AnswerPolicy,
    *,
    kinds: list[str] | None = None,
    cands: Candidates | None = None,
) -> Answer:
    """The answer to `question` from the index behind `searcher` (took_ms is left for the caller)."""
    index: Index = searcher.index
    cands = cands if cands is not None else searcher.candidates(question, kinds=kinds)
    rows, scores = searcher.rank(cands, policy.method)
    confidence = answer_confidence(cands)
    floor = min(policy.min_score, FULL_MATCH_MIN_COSINE)
    if len(rows) == 0 or confidence < floor:
        return decline(question)

    rows, scores = rows[: policy.top_k], scores[: policy.top_k]
    chunks = index.chunks(rows.tolist())
    if confidence < policy.min_score and word_coverage(question, list(chunks.values()), index) < FULL_MATCH_COVERAGE:
        return decline(question)
    dense_of = dict(zip(cands.rows.tolist(), cands.dense.tolist(), strict=True))
    terms = {t: max(index.lexical.idf(t), 0.1) for t in dict.fromkeys(tokenize(question))}
    top = float(scores[0]) if float(scores[0]) > 0 else 1.0

    pool: list[_Candidate] = []
    seen_spans: set[tuple[str, int]] = set()
    for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
        chunk = chunks.get(row)
        if chunk is None or dense_of.get(row, 0.0) < floor * 0.8:
            continue
        local: list[_Candidate] = []
        for span in chunk.sentences:
            quote = chunk.text[span.start - chunk.start : span.end - chunk.start]
            if len(quote) < MIN_QUOTE_CHARS or (chunk.doc_id, span.start) in seen_spans:
                continue
            cov = _coverage(terms, quote)
            if cov == 0 and len(chunk.sentences) > 1:
                continue
            s = (max(score, 0.0) / top) * (0.35 + 0.65 * cov)
            words = frozenset(WORD_RE.findall(quote.lower()))
            local.append(_Candidate(chunk.doc_id, span.start, span.end, quote, chunk.kind, s, words))
        local.sort(key=lambda c: -c.score)
        for cand in local[:MAX_QUOTES_PER_CHUNK]:
            seen_spans.add((cand.doc_id, cand.start))
            pool.append(cand)
    pool.sort(key=lambda c: -c.score)

    chosen: list[_Candidate] = []
    per_kind: dict[str, int] = {}
    for cand in pool:
        if len(chosen) >= policy.max_bullets:
            break
        if per_kind.get(cand.kind, 0) >= policy.max_bullets_per_section:
            continue
        if any(_jaccard(cand.words, c.words) >= DUPLICATE_JACCARD for c in chosen):
            continue
        chosen.append(cand)
        per_kind[cand.kind] = per_kind.get(cand.kind, 0) + 1
    if not chosen:
        return decline(question)

    # Within a section, quotes read in their source's order: documents by their best quote, then offset.
    doc_rank: dict[str, int] = {}
    for cand in chosen:
        doc_rank.setdefault(cand.doc_id, len(doc_rank))
    by_kind: dict[str, list[_Candidate]] = {}
    for cand in sorted(chosen, key=lambda c: (doc_rank[c.doc_id], c.start)):
        by_kind.setdefault(cand.kind, []).append(cand)
    numbers: dict[str, int] = {}
    sections: list[AnswerSection] = []
    for kind in sorted(by_kind, key=kind_order):
        bullets = []
        for cand in by_kind[kind]:
            n = numbers.setdefault(cand.doc_id, len(numbers) + 1)
            bullets.append(Bullet(cand.quote, [n], cand.doc_id, cand.start, cand.end))
        sections.append(AnswerSection(kind, kind_heading(kind), bullets))
    meta = index.titles(list(numbers))
    references = [
        Reference(n, doc_id, meta[doc_id][0], meta[doc_id][1], meta[doc_id][2]) for doc_id, n in numbers.items()
    ]
    return Answer(question=question, answered=True, sections=sections, references=references)


def decline(question: str) -> Answer:
    return Answer(question=question, answered=False, sections=[], references=[], message=DECLINE_MESSAGE)


def best_dense(cands: Candidates) -> float:
    return float(np.max(cands.dense)) if len(cands.dense) else 0.0


def answer_confidence(cands: Candidates) -> float:
    """How sure the bot is that the sources hold an answer; below `min_score` it declines.

    The best cosine similarity between the question and any candidate chunk.
    """
    return best_dense(cands)


def word_coverage(question: str, chunks: list[Chunk], index: Index) -> float:
    """The largest share of the question's words (weighted by idf) that one chunk and its title hold."""
    lexical = index.lexical
    rarest = float(np.log(1 + (lexical.size + 0.5) / 0.5))
    weights = {t: (lexical.idf(t) if t in lexical.vocab else rarest) for t in dict.fromkeys(tokenize(question))}
    total = sum(weights.values())
    if total <= 0 or not chunks:
        return 0.0
    titles = index.titles(list({c.doc_id for c in chunks}))
    best = 0.0
    for chunk in chunks:
        words = set(tokenize(chunk.text)) | set(tokenize(titles.get(chunk.doc_id, ("",))[0]))
        best = max(best, sum(w for t, w in weights.items() if t in words) / total)
    return best
