"""Misspellings against the words an index knows: the stem a misspelt one means ("pregnent" -> "pregnant"),
and whether a word no source holds is a slip of a known or everyday word rather than a key word.

The checks look a stem up in a `Vocabulary` (built once per index vocabulary and kept): words grouped by
first letter and length, and every word in one string for the "end of a longer word" and "part of a longer
word" tests. A question's unknown stems then cost a few small lists, not a pass over every word an index of
a million chunks knows.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from .lexical import tokenize

LETTERS = "abcdefghijklmnopqrstuvwxyz"
MIN_CHARS = 5  # a stem shorter than this is never corrected (too many words are one edit from it)


@dataclass(frozen=True)
class Vocabulary:
    """An index's stems, arranged for the spelling checks."""

    words: Mapping[str, int]
    size: int  # len(words) when built: a mapping that grew since is arranged again
    by_start: dict[tuple[str, int], list[str]]  # (first letter, length) -> the stems
    joined: str  # "\n" + every stem + "\n", one per line

    @classmethod
    def of(cls, words: Mapping[str, int]) -> Vocabulary:
        by_start: dict[tuple[str, int], list[str]] = {}
        for w in words:
            by_start.setdefault((w[:1], len(w)), []).append(w)
        return cls(words=words, size=len(words), by_start=by_start, joined="\n" + "\n".join(words) + "\n")

    def starting_like(self, stem: str, spread: int) -> list[str]:
        """The stems with the first letter of `stem` and a length within `spread` of its length."""
        return [
            w for n in range(len(stem) - spread, len(stem) + spread + 1) for w in self.by_start.get((stem[:1], n), ())
        ]

    def ends_longer(self, stem: str, extra: int) -> bool:
        """Some stem ends with `stem` and is at least `extra` letters longer."""
        at = self.joined.find(stem + "\n")
        while at != -1:
            if at - self.joined.rfind("\n", 0, at) - 1 >= extra:
                return True
            at = self.joined.find(stem + "\n", at + 1)
        return False

    def inside_longer(self, stem: str) -> bool:
        """`stem` is part of a longer stem."""
        at = self.joined.find(stem)
        while at != -1:
            whole = self.joined[at - 1] == "\n" and self.joined[at + len(stem)] == "\n"
            if not whole:
                return True
            at = self.joined.find(stem, at + 1)
        return False


_VIEWS: dict[int, Vocabulary] = {}
_VIEWS_LOCK = threading.Lock()
VIEWS_KEPT = 4  # vocabularies of the indexes loaded lately (a reload swaps in a new one)


def vocabulary(words: Mapping[str, int]) -> Vocabulary:
    """The `Vocabulary` of an index's stems, built on first use and kept while the same mapping is in use."""
    view = _VIEWS.get(id(words))
    if view is not None and view.words is words and view.size == len(words):
        return view
    view = Vocabulary.of(words)
    with _VIEWS_LOCK:
        _VIEWS.pop(id(words), None)
        while len(_VIEWS) >= VIEWS_KEPT:
            _VIEWS.pop(next(iter(_VIEWS)))
        _VIEWS[id(words)] = view
    return view


def corrected(stem: str, vocab: Mapping[str, int], entities: tuple[str, ...]) -> str:
    """A stem the index does not know, replaced by the known one it misspells ("pregnent" -> "pregnant",
    "lipit" -> "lipitor" when the question names LIPITOR by a misspelling); else itself."""
    if stem in vocab or len(stem) < MIN_CHARS:
        return stem
    view = vocabulary(vocab)
    if view.ends_longer(stem, 3):
        return stem  # "pressor" of "vasopressor": the end of a word the sources use, not a misspelt "professor"
    named = [t for e in entities for t in tokenize(e) if t in vocab]
    pool = named + view.starting_like(stem, 2)
    # a letter typed in the wrong place ("chron" for "crohn"): the one known word it makes when moved back wins
    # over a longer word that merely starts the same way ("chronic"); not for a name with digits ("RPL23" is
    # no "RPL32"), and letters swapped far apart are no slip ("marek" is no "maker", "cronic" no "crocin")
    letters = sorted(stem)  # the same letters first: a cheap test before trying each move
    moved = [w for w in pool if len(w) == len(stem) and sorted(w) == letters and one_letter_moved(stem, w)]
    if len(moved) == 1 and not any(ch.isdigit() for ch in stem):
        return moved[0]
    match = difflib.get_close_matches(stem, pool, n=1, cutoff=0.75)
    return match[0] if match else stem


def one_letter_moved(a: str, b: str) -> bool:
    """`b` is `a` with one letter moved elsewhere ("chron" -> "crohn", "recieve" -> "receive")."""
    if len(a) != len(b) or a == b:
        return False
    return any(a[:i] + a[i + 1 :] == b[:j] + b[j + 1 :] and a[i] == b[j] for i in range(len(a)) for j in range(len(b)))


def near_known(stem: str, vocab: Mapping[str, int]) -> bool:
    """A misspelling of a word the index knows (one edit away, same first letter)."""
    if len(stem) < MIN_CHARS:
        return False
    pool = vocabulary(vocab).starting_like(stem, 1)
    return bool(difflib.get_close_matches(stem, pool, n=1, cutoff=0.85))


def inside_known(stem: str, vocab: Mapping[str, int]) -> bool:
    """Part of a longer word the index knows ("steroid" in "corticosteroid")."""
    return len(stem) >= MIN_CHARS and vocabulary(vocab).inside_longer(stem)


def near_english(word: str, common: frozenset[str]) -> bool:
    """One edit (a letter added, dropped, changed, or two swapped) from an everyday English word of at
    least 4 letters: "tounge", "wiegh", "alot" are misspellings, not key words."""
    if len(word) < 4:
        return False
    return any(len(e) >= 4 and e in common for e in edits(word))


def edits(word: str) -> set[str]:
    """The words one edit from `word`: a letter dropped, two swapped, one changed or one added."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in LETTERS}
    out |= {a + c + b for a, b in splits for c in LETTERS}
    return out - {word}


def misspelt_known(word: str, vocab: Mapping[str, int]) -> bool:
    """One edit of the word as written, stemmed, is a stem the index knows ("coatmer": "coatomer" ->
    "coatom"). Stems alone miss it: a misspelling can change how a word stems."""
    return len(word) >= 6 and any(stem in vocab for e in edits(word) if e[:1] == word[:1] for stem in tokenize(e)[:1])
