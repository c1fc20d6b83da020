"""The spelling checks' vocabulary lookups agree with a plain pass over every word."""

from __future__ import annotations

import pytest

from bot.spelling import corrected, inside_known, near_known, vocabulary

WORDS = ["vasopressor", "pressur", "pregnant", "crohn", "chronic", "corticosteroid", "steroid", "lipitor", "alendron"]
VOCAB = dict.fromkeys(WORDS, 0)


@pytest.mark.parametrize(
    ("stem", "extra", "expected"),
    [
        ("pressor", 3, True),  # the end of "vasopressor"
        ("pressor", 5, False),  # "vaso" is four letters
        ("steroid", 3, True),  # "cortico" + "steroid"
        ("steroid", 0, True),  # ...and the word itself at 0 extra letters
        ("roid", 11, False),  # "corticoste" + "roid" is ten letters more
        ("nant", 3, True),
        ("preg", 1, False),  # a start, not an end
    ],
)
def test_ends_longer_matches_a_pass_over_every_word(stem: str, extra: int, expected: bool) -> None:
    brute = any(w.endswith(stem) and len(w) >= len(stem) + extra for w in WORDS)
    assert vocabulary(VOCAB).ends_longer(stem, extra) is brute is expected


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("steroid", True),  # inside "corticosteroid", though a word of its own too
        ("lipitor", False),  # only the word itself
        ("ticost", True),
        ("hronic", True),
        ("xyzzy", False),
    ],
)
def test_inside_longer_matches_a_pass_over_every_word(stem: str, expected: bool) -> None:
    brute = any(stem in w for w in WORDS if len(w) > len(stem))
    assert vocabulary(VOCAB).inside_longer(stem) is brute is expected


@pytest.mark.parametrize("stem", ["pregnent", "chron", "lipit", "pressor", "alendr", "steriod"])
def test_starting_like_is_every_word_of_that_letter_and_length(stem: str) -> None:
    brute = {w for w in WORDS if w[:1] == stem[:1] and abs(len(w) - len(stem)) <= 2}
    assert set(vocabulary(VOCAB).starting_like(stem, 2)) == brute


@pytest.mark.parametrize(
    ("stem", "fixed"),
    [("pregnent", "pregnant"), ("chron", "crohn"), ("pressor", "pressor"), ("steriod", "steroid"), ("zz", "zz")],
)
def test_corrected_through_the_lookups(stem: str, fixed: str) -> None:
    assert corrected(stem, VOCAB, ()) == fixed


def test_a_vocabulary_that_grew_is_arranged_again() -> None:
    vocab = dict.fromkeys(["aspirin"], 0)
    assert not near_known("ibuprofn", vocab) and not inside_known("buprofen", vocab)
    vocab["ibuprofen"] = 1
    assert near_known("ibuprofn", vocab) and inside_known("buprofen", vocab)
