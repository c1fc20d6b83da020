"""When the bot declines to answer, and what it says then (docs/EVALUATION.md).

A question is declined when the best chunk is not close enough to it (`answer_confidence`, the best
cosine) and there is no lexical evidence either (`lexical_evidence`: one of the top chunks holds the
question's words; `focus_evidence`: a document titled with what it names has a close passage), or when no
source its quotes come from names its most specific word (`sources_name_specific`), or when it asks whether
a drug comes in a dose form its label never names (`form_not_labelled`). `decline` is the answer then.
"""

from __future__ import annotations

import re

import numpy as np

from .documents import Answer, Chunk
from .doses import holds_all
from .drugs import names_any, same_drugs
from .index import Index
from .lexical import TOKEN_RE, tokenize
from .query import LONG_QUESTION_WORDS, Query, is_question, synonym_stems, written_acronym
from .search import Candidates, Searcher
from .sections import section_name

DECLINE_MESSAGE = (
    "I could not find this in the sources I have. Try rephrasing the question, or ask about a topic "
    "the indexed documents cover."
)
# Abstention (docs/EVALUATION.md): answer when the best chunk's cosine similarity reaches `min_score`, or,
# above FULL_MATCH_MIN_COSINE, on lexical evidence: one of the top chunks (with its title and section) holds
# every word of a question of at least FULL_MATCH_MIN_TERMS terms (FULL_MATCH_COVERAGE of their idf weight;
# a word the index has never seen weighs most; two terms are enough when one names a labelled drug), or
# BROAD_MATCH_COVERAGE of a long question's words (at least BROAD_MATCH_MIN_TERMS terms: a claim or a
# detailed question). Shorter questions need the cosine.
FULL_MATCH_MIN_COSINE = 0.30
FULL_MATCH_COVERAGE = 0.99
FULL_MATCH_MIN_TERMS = 4
FULL_MATCH_MIN_TERMS_NAMED = 2  # when the question names a drug or product the index has a label for
BROAD_MATCH_COVERAGE = 0.6
BROAD_MATCH_MIN_TERMS = 6
# A long question (a claim) whose best chunk is this close and holds part of its words
LONG_QUESTION_MIN_COSINE = 0.50
LONG_QUESTION_MIN_TERMS = 6
LONG_QUESTION_COVERAGE = 0.30
# An acronym of at least this many letters held by at most this many passages names the topic as a drug does
RARE_ACRONYM_MIN_CHARS = 3
RARE_ACRONYM_ROWS = 20


# A dose form a question asks whether a drug comes in ("Is haloperidol available as an orally disintegrating
# tablet?", "Does Lipitor come as a liquid?"): a cue that it asks about the form, and the form's words.
FORM_CUE_RE = re.compile(
    r"\b(?:available|comes?|came|formulations?|forms?|versions?|supplied|made|sold|switch\w*|convert\w*)\b", re.I
)
FORM_RE = re.compile(
    r"\b(?:orally disintegrating|disintegrating|extended[- ]release|long[- ]acting|depot|decanoate|transdermal"
    r"|patch(?:es)?|chewable|suppositor(?:y|ies)|nasal spray|inhal(?:er|ed)|liquid|oral solution|suspension|syrup"
    r"|sublingual|lozenges?|gumm(?:y|ies)|ointment|eye drops?)\b",
    re.I,
)


def decline(question: str, *, unknown: tuple[str, ...] = (), not_on: tuple[str, str] | None = None) -> Answer:
    """The answer that declines; `unknown`: the question's words no source holds; `not_on`: a dose form and
    the drug whose label never mentions it."""
    message = DECLINE_MESSAGE
    if not_on is not None:
        form, drug = not_on
        message = (
            f"I could not find this in the sources I have: the label of {drug} does not mention “{form}”. Try "
            "rephrasing the question, or ask about a topic the indexed documents cover."
        )
    elif unknown:
        words = ", ".join(f"“{w}”" for w in unknown[:3])
        message = (
            f"I could not find this in the sources I have: none of them mentions {words}. Try rephrasing the "
            "question, or ask about a topic the indexed documents cover."
        )
    return Answer(question=question, answered=False, sections=[], references=[], message=message)


def best_dense(cands: Candidates) -> float:
    return float(np.max(cands.dense)) if len(cands.dense) else 0.0


def answer_confidence(cands: Candidates) -> float:
    """How sure the bot is that the sources hold an answer; below `min_score` it declines.

    The best cosine similarity between the question and any candidate chunk.
    """
    return best_dense(cands)


def lexical_evidence(query: Query, confidence: float, chunks: list[Chunk], index: Index) -> bool:
    """Whether the top chunks hold the question's words well enough to answer below `min_score`."""
    if confidence < FULL_MATCH_MIN_COSINE:
        return False
    if drugs_together(query, chunks, index):
        return True
    coverage = word_coverage(query, chunks, index)
    n = len(query.terms)
    full_terms = FULL_MATCH_MIN_TERMS_NAMED if query.entities or rare_acronym(query, index) else FULL_MATCH_MIN_TERMS
    return (
        (coverage >= FULL_MATCH_COVERAGE and n >= full_terms)
        or (coverage >= BROAD_MATCH_COVERAGE and n >= BROAD_MATCH_MIN_TERMS)
        or (
            confidence >= LONG_QUESTION_MIN_COSINE
            and coverage >= LONG_QUESTION_COVERAGE
            and n >= LONG_QUESTION_MIN_TERMS
        )
    )


def rare_acronym(query: Query, index: Index) -> bool:
    """The question writes an acronym that a few passages hold ("HFTC - which genes?": the page on
    hyperphosphatemic familial tumoral calcinosis): as specific as a drug's name."""
    for word in TOKEN_RE.findall(query.text):
        stems = tokenize(word) if written_acronym(word) and len(word) >= RARE_ACRONYM_MIN_CHARS else []
        if len(stems) == 1 and 0 < len(index.lexical.rows_with(stems[0])) <= RARE_ACRONYM_ROWS:
            return True
    return False


def drugs_together(query: Query, chunks: list[Chunk], index: Index) -> bool:
    """Whether a question about two or more drugs together ("Patient on rifampin for TB is starting
    atorvastatin: same time or spaced apart?") has a chunk that names every one of them, with its title (the
    label of one naming the other): the evidence is there, whatever the rest of the question's words."""
    if len(query.drugs) < 2 or not chunks:
        return False
    info = index.doc_info(list(dict.fromkeys(c.doc_id for c in chunks)))
    for chunk in chunks:
        doc = info.get(chunk.doc_id)
        text = f"{doc.title if doc else ''} {chunk.text}"
        if all(names_any(text, (drug,), classes=False) for drug in query.drugs):
            return True
    return False


def focus_evidence(cands: Candidates) -> bool:
    """Whether a document titled with what the question names ("dermatomyositis") has a passage at least
    FULL_MATCH_MIN_COSINE close to it: a chatty question about a condition the sources have a page for is
    answered even when its other words ("scared", "forever") keep the best cosine low."""
    if cands.focus is None or not len(cands.focus):
        return False
    return bool(np.any(cands.focus & (cands.dense >= FULL_MATCH_MIN_COSINE)))


def word_coverage(query: Query, chunks: list[Chunk], index: Index) -> float:
    """The largest share of the question's words (weighted by idf) that one chunk holds with its title,
    section path and section name, in the question's words or their synonyms (`Query.aliases`)."""
    weights = query.terms
    total = sum(weights.values())
    if total <= 0 or not chunks:
        return 0.0
    info = index.doc_info(list(dict.fromkeys(c.doc_id for c in chunks)))  # cached: build_answer read them
    best = 0.0
    for chunk in chunks:
        doc = info.get(chunk.doc_id)
        context = " ".join((doc.title if doc else "", chunk.heading, section_name(chunk.code) or ""))
        words = set(tokenize(chunk.text)) | set(tokenize(context))
        # a drug asked about is named where the chunk names its class ("hydrocodone": the guideline's "opioids")
        for drug in query.drugs:
            if names_any(f"{context} {chunk.text}", (drug,), classes=True):
                words |= set(tokenize(drug))
        # a word counts where the chunk says it or a word SYNONYMS says it with ("traveling" for "flying")
        held = sum(w for t, w in weights.items() if t in words or query.aliases.get(t, frozenset()) & words)
        best = max(best, held / total)
    return best


def sources_name_specific(query: Query, quoted: list[Chunk], searcher: Searcher) -> bool:
    """Whether a source the answer quotes (`quoted`: the chunks its quotes come from) names the question's most
    specific word anywhere, in any form ("atypical" in "In the 10-year alendronate study, how many atypical
    femoral fractures occurred?"; "dialysis" in "hemodialysis"). A source that never says it answers a
    nearby question, not this one. Only short questions that name no page's topic: a claim to check is
    answered by what bears on it, and a patient's long story, or a question about a condition a page is
    titled with (not a drug's label), has lay words and misspellings among its specific ones ("tummy",
    "exausted")."""
    if not query.specific or not quoted or not is_question(query.text):
        return True
    named = {t for e in query.entities for t in tokenize(e)}
    if query.focus and not set(query.focus.split()) <= named:  # a condition's page, not a drug's label
        return True
    if len(TOKEN_RE.findall(query.text)) >= LONG_QUESTION_WORDS:
        return True
    if len(same_drugs(query.entities + query.drugs)) >= 2:
        return True  # two drugs asked about together are the topic ("Bipolar inpatient on lithium … add haloperidol")
    # the word, or a word SYNONYMS says it with ("dialysis" for "hemodialysis")
    keys = [query.specific[0], *sorted(synonym_stems().get(query.specific[0], frozenset()))]
    keys += sorted(query.acronym_of.get(query.specific[0], frozenset()))  # "MME" for "milligram"
    docs = searcher.doc_lexical
    index = searcher.index
    rows = index.doc_of_row[[c.id for c in quoted]]
    if docs is not None and any(np.isin(docs.rows_with(key), rows).any() for key in keys):
        return True
    for doc_id in dict.fromkeys(c.doc_id for c in quoted):
        doc = index.document(doc_id)
        if doc is None:
            continue
        tokens = set(tokenize(f"{doc.title} {doc.text}"))  # once, not once for each of the keys
        if any(key in t for key in keys for t in tokens):
            return True
    return False


def form_not_labelled(query: Query, searcher: Searcher) -> tuple[str, str] | None:
    """A dose form the question asks whether the one drug it names comes in, which no label of that drug
    mentions, with the drug's name ("orally disintegrating", "haloperidol"); None otherwise. The form must be
    what is asked ("available as", "come in", "formulation"): "diphenhydramine cream while on Triaminic" asks
    about another product."""
    index = searcher.index
    docs = searcher.doc_lexical
    if len(query.entities) != 1 or docs is None or not index.doc_kinds or not FORM_CUE_RE.search(query.text):
        return None
    labels = [d for d in index.entity_lexicon.get(query.entities[0], set()) if index.doc_kinds[d] == "drug_label"]
    if not labels:
        return None
    for m in FORM_RE.finditer(query.text):
        stems = tokenize(m.group(0))
        if not any(holds_all(searcher, d, tuple(stems)) for d in labels):
            return m.group(0).lower(), query.entities[0]
    return None
