"""The learned order of an abstract's quotes (bot/quote_rank.py, bot/data/quote_ranker.json): the shipped
file loads and is checked like the retrieval ranker's, its features read an abstract's inline labels, and
it only orders answers whose every candidate is a quote of an abstract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot import answer, quote_rank
from bot.documents import Chunk
from bot.ranker import FEATURES, RankerError, load_bundled, parse, to_json


def test_the_shipped_quote_ranker_loads() -> None:
    model = load_bundled(quote_rank.FILE, quote_rank.FEATURES)
    assert model.weights.shape == (len(quote_rank.FEATURES),)
    assert np.all(np.isfinite(model.weights))
    assert "scifact" in json.dumps(model.meta)


def test_a_damaged_quote_ranker_file_is_a_clear_error() -> None:
    good = json.loads(to_json([0.5] * len(quote_rank.FEATURES), {}, quote_rank.FEATURES))
    assert parse(json.dumps(good), "q.json", quote_rank.FEATURES).weights.shape == (len(quote_rank.FEATURES),)
    good["weights"][3] = 9.0
    with pytest.raises(RankerError, match="q.json is damaged"):
        parse(json.dumps(good), "q.json", quote_rank.FEATURES)


def test_the_retrieval_ranker_file_is_not_a_quote_ranker() -> None:
    text = to_json([1.0] * len(FEATURES), {})
    with pytest.raises(RankerError, match="has features"):
        parse(text, "bot/data/quote_ranker.json", quote_rank.FEATURES)


def test_inline_labels_of_an_abstract() -> None:
    text = "BACKGROUND Little is known. METHODS We counted. RESULTS It fell by half. CONCLUSIONS It works."
    assert quote_rank.inline_label(text, 0) == "BACKGROUND"
    assert quote_rank.inline_label(text, text.index("It fell")) == "RESULTS"
    assert quote_rank.inline_label(text, text.index("It works")) == "CONCLUSIONS"
    assert quote_rank.inline_label("No labels here at all.", 5) == ""
    assert quote_rank.label_flags("RESULTS") == (1.0, 0.0, 0.0, 0.0)
    assert quote_rank.label_flags("OBJECTIVE") == (0.0, 0.0, 1.0, 0.0)
    assert quote_rank.label_flags("DESIGN") == (0.0, 0.0, 0.0, 1.0)


def _cand(doc: str, start: int, score: float, coverage: float, *, features: bool = True, in_chunk: int = 0):  # type: ignore[no-untyped-def]
    text = "x" * 400
    quote = f"quote {doc} {start} " + "words " * 5
    chunk = Chunk(id=hash((doc, start // 200)) % 1000, doc_id=doc, start=0, end=400, text=text, kind="research",
                  heading="", sentences=[])  # fmt: skip
    x = None
    if features:
        x = quote_rank.raw_features(
            quote=quote, start=start, end=start + 40, text=text, question_negates=False, coverage=coverage,
            pairs=0.0, rare=0.0, finding=False, anaphora=False, chunk=1.0, chunk_rank=0.0, doc_rank=0, dense=0.5,
        )  # fmt: skip
    words = frozenset(quote.split())
    return answer._Candidate(
        doc, start, start + 40, quote, "research", score, words, chunk, features=x, in_chunk=in_chunk
    )


def test_a_pool_with_any_quote_not_from_an_abstract_keeps_the_hand_tuned_order() -> None:
    pool = [_cand("a", 0, 0.9, 0.9), _cand("b", 50, 0.8, 0.1, features=False), _cand("a", 100, 0.7, 0.5, in_chunk=4)]
    ordered, learned = answer.learned_order(list(pool))
    assert not learned
    assert [c.score for c in ordered] == [0.9, 0.8]  # the extra quotes of a chunk are left out


def test_abstract_quotes_are_ordered_by_the_model_best_first() -> None:
    pool = [_cand("a", 0, 0.5, 0.1), _cand("b", 250, 1.0, 1.0), _cand("c", 300, 0.8, 0.6)]
    ordered, learned = answer.learned_order(list(pool))
    assert learned
    assert ordered[0].doc_id == "b"  # best score and coverage
    scores = [c.score for c in ordered]
    assert scores[0] == pytest.approx(1.0) and scores == sorted(scores, reverse=True)
    assert [c.doc_id for c in answer.choose(ordered, answer.AnswerPolicy(), answer.LEARNED_FLOOR)] == ["b", "c", "a"]
