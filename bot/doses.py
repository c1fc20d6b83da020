"""What a dose answer may quote. A question that asks for an amount ("What is the Humira dose for Crohn's
disease?", "starting dose of atorvastatin for a 13 year old") is answered with the doses for what it names —
the indication, the population — never with another indication's or another age group's dose.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from .drugs import spelling
from .lexical import TOKEN_RE
from .query import AMOUNT_RE, Query

if TYPE_CHECKING:
    from .documents import Chunk
    from .search import Searcher

INDICATION_CODES = frozenset({"34067-9"})  # a label's Indications and Usage
DOSAGE_CODES = frozenset({"34068-7"})  # Dosage and Administration
STUDY_CODES = frozenset({"34092-7", "34090-1", "43682-4"})  # Clinical Studies, Clinical Pharmacology, Pharmacokinetics
# "Triaminic Children's …", "the children's diphenhydramine … syrup": a product's name, for whoever it is given to
PRODUCT_CHILDREN_RE = re.compile(r"\b(?:[A-Z][\w-]*|the|a|this|that|her|his|my|their|your) [Cc]hildren['’]s\b")
CHILD_RE = re.compile(
    r"\b(child|children|childhood|kids?|pediatric|paediatric|infants?|toddlers?|adolescents?|juvenile|newborns?"
    r"|neonat\w*)\b(?![\s-]?pugh)",  # "Child-Pugh B" grades a liver, not a child
    re.I,
)
# the label's own words for older patients: where it doses them apart, its other adult doses are not for them
OLDER = r"elderly|geriatric|older (adults?|patients?|people)|debilitated|frail"
OLDER_RE = re.compile(rf"\b({OLDER})\b", re.I)
ADULT_RE = re.compile(rf"\b(adults?|grown[- ]?ups?|{OLDER})\b", re.I)  # the elderly are adults: no children's chart
AGE_RE = re.compile(  # "13 year old", "72-year-old", "my son is 14"
    r"\b(\d{1,3})[- ]?(?:years?|yrs?|yo)\b"
    r"|\b(?:son|daughter|child|kid|boy|girl|baby|he|she)\s+(?:is|was)\s+(\d{1,2})\b",
    re.I,
)
ADULT_AGE = 18
# "haloperidol starting dose for an 8 year old with tourettes": the label's "Therapy should begin at the lowest
# dose possible (0.5 mg per day)" for children answers with the Tourette's range
START_QUESTION_RE = re.compile(r"\b(start|starting|initial|begin|beginning)\b", re.I)
START_RE = re.compile(r"\b(begin|start|initial|initiat)\w*\b", re.I)
OLDER_AGE = 65
# A threshold of old age: "patients > 65 years", "older subjects (>65)", "65 years of age and older"
AGE_OVER_RE = re.compile(r"(?:[>≥]|\bover|\babove|\bolder than|\baged?)\s*(\d{2})\b", re.I)
OLD_THRESHOLD = 50  # below it, a threshold ("> 12 years") is no word for older patients
# Age bands of a dosing table: "6 to under 12 years", "10-17 years of age", "12 years and over", "under 4 years"
AGE_BAND_RE = re.compile(
    r"\b(\d{1,2})\s*(?:to|-|–|through)\s*(under\s+|less than\s+)?(\d{1,2})\s*(?:years?|yrs?)\b", re.I
)
AGE_FROM_RE = re.compile(r"\b(\d{1,2})\s*(?:years?|yrs?)(?: of age)?\s*(?:and|or)\s*(?:over|older|above)\b", re.I)
AGE_UNDER_RE = re.compile(r"\b(?:under|younger than|less than)\s*(\d{1,2})\s*(?:years?|yrs?)\b", re.I)
NEAR_CHARS = 60  # an amount this close to a drug's name is an amount of that drug
# The section numbers a label's Highlights line points to, right after the quote: "… 20 mg once daily (2.2)."
POINTER_RE = re.compile(r"\s*\(((?:\d{1,2}(?:\.\d{1,2})?)(?:\s*,\s*\d{1,2}(?:\.\d{1,2})?)*)\)")


class Quoted(Protocol):
    kind: str
    doc_id: str
    start: int
    end: int
    quote: str
    lead: str
    names: bool  # the quote or its section names one of the question's specific words

    @property
    def chunk(self) -> Chunk: ...


Q = TypeVar("Q", bound=Quoted)


def ages_in(text: str) -> list[int]:
    """The ages a question gives ("a 13 year old", "my son is 14"); for a band ("a child aged 6 to under 12
    years", as a label's dosing row says it), its lowest age, which that row covers ("under 12" holds no 12)."""
    bands = [(m.start(), m.end(), int(m.group(1))) for m in AGE_BAND_RE.finditer(text)]
    out = []
    for m in AGE_RE.finditer(text):
        band = next((low for start, end, low in bands if start <= m.start() < end), None)
        out.append(band if band is not None else int(m.group(1) or m.group(2)))
    return out


def population(question: str) -> str | None:
    """Whom a question asks about: "child", "adult", or None when it says neither (or both). A product's name
    ("Triaminic Children's Night Time Cold and Cough") names no child."""
    question = PRODUCT_CHILDREN_RE.sub(" ", question)
    ages = ages_in(question)
    child = bool(CHILD_RE.search(question)) or any(a < ADULT_AGE for a in ages)
    adult = bool(ADULT_RE.search(question)) or any(a >= ADULT_AGE for a in ages)
    if child == adult:
        return None
    return "child" if child else "adult"


def amount_of(text: str, drugs: tuple[str, ...]) -> bool:
    """The text states an amount next to the name of one of `drugs` ("sublingual buprenorphine 16 mg",
    "8 mg of buprenorphine"), not only somewhere else ("patients receiving ≥90 MME/day … were able to
    transition to sublingual buprenorphine" gives no buprenorphine dose)."""
    firsts = {spelling(d.split()[0]) for d in drugs if d}
    names = [m for m in TOKEN_RE.finditer(text) if spelling(m.group(0)) in firsts]
    return any(
        name.start() - NEAR_CHARS <= amount.end() and amount.start() <= name.end() + NEAR_CHARS
        for amount in AMOUNT_RE.finditer(text)
        for name in names
    )


def holds_all(searcher: Searcher, doc_no: int, terms: tuple[str, ...]) -> bool:
    """Whether document number `doc_no` holds every one of `terms` somewhere in its text."""
    docs = searcher.doc_lexical
    return docs is None or all(bool(np.any(docs.rows_with(t) == doc_no)) for t in terms)


def doses_for_what_was_asked(pool: list[Q], query: Query, searcher: Searcher) -> list[Q]:
    """The candidates of a dose answer that dose what the question names.

    - Its population: for a child, only doses whose quote, lead-in or section speaks of children ("children 6
      to under 12 years of age; 2 teaspoonfuls", "Juvenile Idiopathic Arthritis:"); for an adult, none of
      those unless they speak of adults too.
    - What is advised: a label's doses in studies (Clinical Studies, Clinical Pharmacology: "Patients were then
      randomized at Week 4 to 40 mg HUMIRA every other week, 40 mg HUMIRA every week, or placebo") are left
      out where its Dosage and Administration answers.
    - Its indication, from a label: those whose quote or section names a specific word of the question
      (HUMIRA's Crohn's disease doses, not its psoriasis doses, for "humira dose crohns"); when none does, all
      of them if the label is indicated for it (VIAGRA's doses for "starting dose … for ED"), none if it only
      mentions it elsewhere (REVATIO for pulmonary arterial hypertension, in VIAGRA's warnings).
    """
    advised = {c.doc_id for c in pool if c.chunk.code in DOSAGE_CODES}
    named_before = {c.doc_id for c in pool if c.kind == "drug_label" and c.names}
    who = population(query.text)
    ages = ages_in(query.text)
    if who is not None:
        pool = [c for c in pool if _for_population(c, who)]
    if (who == "adult" and OLDER_RE.search(query.text)) or any(a >= OLDER_AGE for a in ages):
        for_older = {id(c) for c in pool if _for_older(_said(c), ages)}
        older = {c.doc_id for c in pool if id(c) in for_older}  # labels that dose older patients apart
        pool = [c for c in pool if c.doc_id not in older or id(c) in for_older]
    if len(ages) == 1:
        paths: dict[str, tuple[str, ...]] = {}
        pool = [c for c in pool if _for_age(c, ages[0], pointed_titles(c, searcher, paths))]
    # where Dosage and Administration doses what was asked, a label's doses elsewhere (its studies) are not
    # advised doses; nor where it doses only other ages or populations ("8 pediatric patients" of a study)
    narrowed = advised - {c.doc_id for c in pool if c.chunk.code in DOSAGE_CODES}
    pool = [
        c for c in pool
        if not (c.doc_id in advised and c.chunk.code in STUDY_CODES)
        and not (c.doc_id in narrowed and c.chunk.code not in DOSAGE_CODES)
    ]  # fmt: skip
    if not query.specific:
        return pool
    # a label that doses the indication asked about only for another population or age ("Humira dose for a
    # child with Crohn's disease": Crohn's doses for adults only) gives none: not its doses for another one
    named_after = {c.doc_id for c in pool if c.kind == "drug_label" and c.names}
    pool = [c for c in pool if not (c.doc_id in named_before and c.doc_id not in named_after)]
    index = searcher.index
    keep: list[Q] = []
    by_doc: dict[str, list[Q]] = {}
    for cand in pool:
        if cand.kind == "drug_label":
            by_doc.setdefault(cand.doc_id, []).append(cand)
        else:
            keep.append(cand)
    indications = index.code_mask(INDICATION_CODES)
    lexical = index.lexical
    for cands in by_doc.values():
        named = [c for c in cands if c.names]
        if named:
            keep += named
            if START_QUESTION_RE.search(query.text):  # how to start, said for everyone the population holds
                keep += [c for c in cands if not c.names and c.chunk.code in DOSAGE_CODES and START_RE.search(c.quote)]
            continue
        doc_no = int(index.doc_of_row[cands[0].chunk.id])
        for term in query.specific:
            rows = lexical.rows_with(term)
            rows = rows[index.doc_of_row[rows] == doc_no]
            if indications is not None and bool(np.any(indications[rows])):
                # the label is indicated for it: its doses are for it, but not those of its studies (a JIA
                # study's doses for a Crohn's question)
                keep += [c for c in cands if c.chunk.code not in STUDY_CODES]
                break
    return keep


def pointed_titles(cand: Quoted, searcher: Searcher, paths: dict[str, tuple[str, ...]]) -> str:
    """The titles of the label sections a quote points to right after it ("Pediatric starting dose: 10 mg
    once daily (2.2)" -> "2.2 Heterozygous Familial Hypercholesterolemia in Pediatric Patients (10–17 years
    of age)"): a Highlights line means what its section says it is for. `paths`: each label's section
    titles, read once per answer."""
    chunk = cand.chunk
    m = POINTER_RE.match(chunk.text, cand.end - chunk.start)
    if m is None or cand.kind != "drug_label":
        return ""
    numbers = {n.strip() for n in m.group(1).split(",")}
    if cand.doc_id not in paths:
        doc = searcher.index.document(cand.doc_id)
        paths[cand.doc_id] = tuple(dict.fromkeys(t for part in doc.parts for t in part.path)) if doc else ()
    return " ".join(sorted(t for t in paths[cand.doc_id] if t.split(" ", 1)[0] in numbers))


def _said(cand: Quoted) -> str:
    """What a candidate says of whom it is for: its quote, lead-in and section."""
    return f"{cand.quote} {cand.lead} {cand.chunk.heading}"


def _for_older(said: str, ages: list[int]) -> bool:
    """The text speaks of older patients: in words ("geriatric", "elderly"), or by an old-age threshold
    the question's age passes ("Consider a starting dose of 25 mg in patients > 65 years" for a 72-year-old)."""
    if OLDER_RE.search(said):
        return True
    limits = [int(m.group(1)) for m in AGE_OVER_RE.finditer(said)]
    limits += [int(m.group(1)) for m in AGE_FROM_RE.finditer(said)]
    limits = [t for t in limits if t >= OLD_THRESHOLD]
    return any(all(a >= t for a in ages) if ages else t >= OLDER_AGE for t in limits)


def _for_age(cand: Quoted, age: int, pointed: str = "") -> bool:
    """A dose whose quote, lead-in, section or the section it points to gives age bands is for an age inside
    one of them ("children 6 to under 12 years of age" is no dose for a 14-year-old, "Pediatric Patients
    (10-17 years of age)" none for an 8-year-old); one that gives none may be."""
    bands = age_bands(f"{_said(cand)} {pointed}")
    return not bands or _in_band(bands, age)


def for_age(text: str, age: int, *, adults_apart: bool = False) -> bool:
    """The text gives an age band the age is in: a dosing chart's row for it ("children 4 to under 6 years of
    age; do not use unless directed by a doctor" for a 5-year-old) answers even where it gives no amount. With
    `adults_apart`, an adult's age is in no band that starts in childhood ("pediatric patients 4 years of age and
    older" says nothing of an 82-year-old)."""
    bands = age_bands(text)
    if adults_apart and age >= ADULT_AGE:
        bands = [b for b in bands if b[0] >= ADULT_AGE]
    return _in_band(bands, age)


def _in_band(bands: list[tuple[int, int, bool]], age: int) -> bool:
    return any(lo <= age < hi or (age == hi and not under) for lo, hi, under in bands)


def age_bands(said: str) -> list[tuple[int, int, bool]]:
    """The age bands a text gives: (from, to, whether "to under").
    "4 to under 6 years" is one band, not also "under 6 years"."""
    bands = [(int(m.group(1)), int(m.group(3)), bool(m.group(2))) for m in AGE_BAND_RE.finditer(said)]
    said = AGE_BAND_RE.sub(" ", said)
    bands += [(int(m.group(1)), 200, False) for m in AGE_FROM_RE.finditer(said)]
    bands += [(0, int(m.group(1)), True) for m in AGE_UNDER_RE.finditer(said)]
    return bands


def _for_population(cand: Quoted, who: str) -> bool:
    said = _said(cand)
    if who == "child":
        # how often, or how many a day, said for no one in particular ("may be given every 4 hours", "Do not give
        # more than 6 doses in 24 hours") is said for every child a dosing chart doses
        return bool(CHILD_RE.search(said)) or not (AMOUNT_RE.search(cand.quote) or ADULT_RE.search(said))
    return not CHILD_RE.search(said) or bool(ADULT_RE.search(said))
