"""The learned order of a paper's quotes: a linear model over features of each candidate sentence of an
answer about research abstracts, trained offline (`bench/train_quote_ranker.py`, SciFact train, 5-fold
cross-validation by claim) and shipped as plain JSON (`bot/data/quote_ranker.json`, loaded and checked by
`bot.ranker.load_bundled`: a damaged file is a clear one-line `RankerError`).

It only orders quotes when every candidate of an answer comes from an abstract (a source of kind "research"
or untyped "other", short and without sections: `bot.answer.ABSTRACT_KINDS`): labels, guidelines and
consumer pages keep the hand-tuned order of `bot.answer`. Features (one row a candidate;
`raw_features` computes those of one quote, `quote_features` from what `bot.answer` knows of it,
`pool_features` adds those relative to the answer's pool; `learned_order` orders the pool by the model):

- `score`: the hand-tuned quote score over the pool's best; `chunk`: the chunk's rank score over the best
  chunk's; `chunk_rank`: the chunk's place among the answer's chunks (0 first, over `top_k`);
  `doc_first`, `doc_rank`: the quote's abstract is the first cited / its place (capped at 5, over 5);
- `coverage`, `pairs`, `coverage_rel`, `rare`: the idf-weighted share of the question's words the quote
  holds, the share of its word pairs, coverage over the pool's best, the share of the question's two
  rarest words it holds;
- `finding`, `position`, `anaphora`, `length`, `first`, `last`, `number`, `we`: what the sentence looks like
  (reports a finding; where it starts in the abstract; leans on the sentence before; length over 300
  characters, at most 2; opens or closes the abstract; holds a digit; says "we"/"our");
- `results`, `conclusions`, `background`, `methods`: the abstract's own inline label in force where the
  quote starts ("RESULTS", "CONCLUSIONS", "BACKGROUND", "METHODS", and their synonyms);
- `negation`: the quote and the question both negate or both do not; `dense`: the chunk's cosine to the
  question; `in_chunk`: the quote's place among its chunk's candidates (0 best, capped at 5, over 5);
  `bias`: 1.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from .quotes import ANAPHORA_RE, FINDING_RE
from .ranker import load_bundled

if TYPE_CHECKING:
    from .documents import Chunk

FEATURES: tuple[str, ...] = (
    "bias",
    "score",
    "chunk",
    "chunk_rank",
    "doc_first",
    "doc_rank",
    "coverage",
    "pairs",
    "coverage_rel",
    "rare",
    "finding",
    "position",
    "anaphora",
    "length",
    "first",
    "last",
    "number",
    "we",
    "results",
    "conclusions",
    "background",
    "methods",
    "negation",
    "dense",
    "in_chunk",
)
INDEX = {name: i for i, name in enumerate(FEATURES)}
FILE = "quote_ranker.json"

LABEL_RE = re.compile(
    r"\b(BACKGROUND|CONTEXT|INTRODUCTION|OBJECTIVES?|PURPOSE|AIMS?|IMPORTANCE|RATIONALE|METHODS?|DESIGN|SETTING"
    r"|PARTICIPANTS|PATIENTS|MEASUREMENTS|INTERVENTIONS?|MAIN OUTCOME MEASURES?|RESULTS|FINDINGS|CONCLUSIONS?"
    r"|INTERPRETATION|DISCUSSION)\b"
)
RESULTS = {"RESULTS", "FINDINGS"}
CONCLUSIONS = {"CONCLUSION", "CONCLUSIONS", "INTERPRETATION", "DISCUSSION"}
BACKGROUND = {"BACKGROUND", "CONTEXT", "INTRODUCTION", "OBJECTIVE", "OBJECTIVES", "PURPOSE", "AIM", "AIMS"}
BACKGROUND |= {"IMPORTANCE", "RATIONALE"}
NEGATION_RE = re.compile(r"\b(not|no|none|neither|nor|without|fails?|failed|lacks?|absent|unaffected)\b", re.I)
DIGIT_RE = re.compile(r"\d")
WE_RE = re.compile(r"\b(we|our)\b", re.I)


class Ranked(Protocol):
    """A candidate quote of an answer (`bot.answer._Candidate`), as the learned order reads and rescores it."""

    doc_id: str
    score: float
    features: np.ndarray | None  # `raw_features`, for a quote of an abstract
    in_chunk: int  # its place among its chunk's quotes (0: the best)

    @property
    def chunk(self) -> Chunk: ...


R = TypeVar("R", bound=Ranked)


def label_starts(text: str) -> tuple[list[int], list[str]]:
    """Where each inline label of an abstract starts, and the label."""
    found = [(m.start(), m.group(1)) for m in LABEL_RE.finditer(text)]
    return [a for a, _ in found], [b for _, b in found]


def inline_label(text: str, start: int, labels: tuple[list[int], list[str]] | None = None) -> str:
    """The abstract's own label in force at `start` ("RESULTS"; one that opens the quote counts), "" when it
    has none there or before it. `labels`: `label_starts(text)`, when already known."""
    starts, names = labels if labels is not None else label_starts(text)
    k = bisect.bisect_right(starts, start)
    return names[k - 1] if k else ""


def label_flags(label: str) -> tuple[float, float, float, float]:
    """(results, conclusions, background, methods) for an inline label."""
    if not label:
        return 0.0, 0.0, 0.0, 0.0
    return (
        float(label in RESULTS),
        float(label in CONCLUSIONS),
        float(label in BACKGROUND),
        float(label not in RESULTS | CONCLUSIONS | BACKGROUND),
    )


def raw_features(
    *,
    quote: str,
    start: int,
    end: int,
    text: str,
    question_negates: bool,
    coverage: float,
    pairs: float,
    rare: float,
    finding: bool,
    anaphora: bool,
    chunk: float,
    chunk_rank: float,
    doc_rank: int,
    dense: float,
    labels: tuple[list[int], list[str]] | None = None,
) -> np.ndarray:
    """The features of one quote of an abstract whose indexed text is `text` (pool-relative ones 0);
    `labels`: `label_starts(text)`, when already known."""
    x = np.zeros(len(FEATURES), dtype=np.float64)
    length = max(len(text), 1)
    x[INDEX["bias"]] = 1.0
    x[INDEX["chunk"]] = chunk
    x[INDEX["chunk_rank"]] = chunk_rank
    x[INDEX["doc_first"]] = float(doc_rank == 0)
    x[INDEX["doc_rank"]] = min(doc_rank, 5) / 5
    x[INDEX["coverage"]] = coverage
    x[INDEX["pairs"]] = pairs
    x[INDEX["rare"]] = rare
    x[INDEX["finding"]] = float(finding)
    x[INDEX["position"]] = start / length
    x[INDEX["anaphora"]] = float(anaphora)
    x[INDEX["length"]] = min(len(quote) / 300, 2.0)
    x[INDEX["first"]] = float(start == 0)
    x[INDEX["last"]] = float(end >= len(text.rstrip()) - 1)
    x[INDEX["number"]] = float(bool(DIGIT_RE.search(quote)))
    x[INDEX["we"]] = float(bool(WE_RE.search(quote)))
    flags = label_flags(inline_label(text, start, labels))
    for name, value in zip(("results", "conclusions", "background", "methods"), flags, strict=True):
        x[INDEX[name]] = value
    x[INDEX["negation"]] = float(bool(NEGATION_RE.search(quote)) == question_negates)
    x[INDEX["dense"]] = dense
    return x


def pool_features(rows: np.ndarray, scores: list[float], chunk_ids: list[int]) -> np.ndarray:
    """`rows` (one a candidate, from `raw_features`) with the features relative to the whole pool filled in:
    the hand-tuned score and the coverage over the pool's best, the place among its chunk's candidates."""
    out = np.array(rows, dtype=np.float64, copy=True)
    if not len(out):
        return out
    s = np.asarray(scores, dtype=np.float64)
    best = float(s.max()) if float(s.max()) > 0 else 1.0
    out[:, INDEX["score"]] = s / best
    cov = out[:, INDEX["coverage"]]
    out[:, INDEX["coverage_rel"]] = cov / max(float(cov.max()), 1e-6)
    seen: dict[int, int] = {}
    for i in np.argsort(-s, kind="stable").tolist():
        k = seen.get(chunk_ids[i], 0)
        seen[chunk_ids[i]] = k + 1
        out[i, INDEX["in_chunk"]] = min(k, 5) / 5
    return out


def quote_features(
    quote: str,
    start: int,
    end: int,
    abstract: tuple[str, tuple[list[int], list[str]]],
    *,
    own: set[str],
    rare_terms: list[str],
    question_negates: bool,
    coverage: float,
    pairs: float,
    chunk: float,
    chunk_rank: float,
    doc_rank: int,
    dense: float,
) -> np.ndarray:
    """`raw_features` of a quote of an abstract (`abstract`: its indexed text and `label_starts`), with what
    the quote itself says read from it: the share of the question's rarest words `rare_terms` among its `own`
    words, whether it reports a finding, whether it leans on the sentence before."""
    text, labels = abstract
    return raw_features(
        quote=quote,
        start=start,
        end=end,
        text=text,
        labels=labels,
        question_negates=question_negates,
        coverage=coverage,
        pairs=pairs,
        rare=sum(t in own for t in rare_terms) / max(len(rare_terms), 1),
        finding=bool(FINDING_RE.search(quote)),
        anaphora=bool(ANAPHORA_RE.match(quote)),
        chunk=chunk,
        chunk_rank=chunk_rank,
        doc_rank=doc_rank,
        dense=dense,
    )


def learned_order(
    pool: list[R],
    limit: int,
    *,
    enabled: bool,
    keep: int,
    penalty: float,
    near_duplicate: Callable[[R, R], bool],
) -> tuple[list[R], bool]:
    """The pool in the learned order when `enabled` and every candidate is a quote of an abstract, and True;
    otherwise the pool as it was ranked, with at most `keep` quotes of each of the answer's top chunks, and
    False.

    The learned order is greedy: next comes the quote whose model score z, less `penalty` for each quote
    already placed from its abstract (near-duplicates of a placed quote do not count), is highest; its score
    becomes exp(that - best z), so `bot.answer.choose` keeps the order. Past `limit` placed quotes (what an
    answer can hold) the rest follow in that order without further penalties."""
    if not enabled or not pool or any(c.features is None for c in pool):
        return [c for c in pool if c.in_chunk < keep], False
    model = load_bundled(FILE, FEATURES)
    x = pool_features(
        np.stack([c.features for c in pool if c.features is not None]),
        [c.score for c in pool],
        [c.chunk.id for c in pool],
    )
    z = model.score(x).astype(np.float64)
    top = float(z.max())
    left = list(range(len(pool)))
    placed: list[R] = []
    count: dict[str, int] = {}
    counted: list[R] = []
    while left:
        adjusted = [z[i] - penalty * count.get(pool[i].doc_id, 0) for i in left]
        if len(counted) >= limit:
            for k in np.argsort(-np.array(adjusted), kind="stable").tolist():
                pool[left[k]].score = float(np.exp(adjusted[k] - top))
                placed.append(pool[left[k]])
            break
        k = int(np.argmax(adjusted))
        cand = pool[left.pop(k)]
        cand.score = float(np.exp(adjusted[k] - top))
        if not any(near_duplicate(cand, c) for c in counted):
            count[cand.doc_id] = count.get(cand.doc_id, 0) + 1
            counted.append(cand)
        placed.append(cand)
    return placed, True
