"""The learned order of a paper's quotes: a linear model over features of each candidate sentence of an
answer about research abstracts, trained offline (`bench/train_quote_ranker.py`, SciFact train, 5-fold
cross-validation by claim) and shipped as plain JSON (`bot/data/quote_ranker.json`, loaded and checked by
`bot.ranker.load_bundled`: a damaged file is a clear one-line `RankerError`).

It only orders quotes when every candidate of an answer comes from an abstract (a source of kind "research"
or untyped "other", short and without sections: `bot.answer.ABSTRACT_KINDS`): labels, guidelines and
consumer pages keep the hand-tuned order of `bot.answer`. Features (one row a candidate;
`raw_features` computes those of one quote, `pool_features` adds those relative to the answer's pool):

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

import numpy as np

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
