"""Answer assembly with no generative model: pick source sentences, group them by kind, cite them.

Every bullet's `quote` is `document.text[start:end]` of the cited document, exactly. The question is
analysed once (`bot.query.Query`) and that object steers everything here:

- **decline by evidence**: a key word of the question that no source holds (a drug the index has no
  label for) means no answer, however near the topic; otherwise the bot answers when the best passage is
  close enough (cosine) or one passage holds every word of the question (with its title and section);
- **keep to what was asked about**: when the question names a drug or product the index has a label for,
  label quotes come only from that drug's labels and other sources only where they name it; when it names
  none, label quotes come from one label (the best match), never a mix of drugs;
- **the part that answers**: passages in the sections the question asks about (a dose question and
  Dosage and Administration, "boxed warning" and the Boxed Warning) rank higher;
- **clean quotes**: sentences or list items, never a question heading, never a cross-reference such as
  "(5.1)" or "[see Warnings and Precautions (5.1)]" (the span is chosen so they fall outside it), a
  run-on cut at a clause boundary; within each section the best quote comes first;
- **papers**: when every candidate is a sentence of an abstract, a learned model (bot.quote_rank) picks and
  orders them, so the sentence that states the finding comes first.

Its parts live beside it: bot.scope (what an answer may read), bot.abstention (when it declines, and what it
says then), bot.quote_rank (the learned order), bot.citations (sections and numbered references).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from . import quote_rank
from .abstention import (
    FULL_MATCH_MIN_COSINE,
    answer_confidence,
    decline,
    focus_evidence,
    form_not_labelled,
    lexical_evidence,
    sources_name_specific,
)
from .citations import cite
from .documents import PATH_SEP, Answer, Chunk
from .doses import DOSAGE_CODES, ages_in, amount_of, doses_for_what_was_asked, for_age, holds_all
from .drugs import drug_names, names_any, same_drugs
from .index import Index
from .lexical import TOKEN_RE, tokenize
from .query import AMOUNT_RE, Query, analyse, gives_measure, stopped_drug
from .quotes import (
    ANAPHORA_RE,
    CUES,
    FINDING_RE,
    MIN_ITEM_CHARS,
    MIN_QUOTE_CHARS,
    SIGN_RE,
    TABLE_RUN_RE,
    WORD_RE,
    cue_bonus,
    graded,
    lead_in,
    merge_short_items,
    quotable_spans,
)
from .scope import allowed_rows, answer_rows, names_entity, rarest_topic
from .search import Candidates, Searcher
from .sections import section_name

# "VIAGRA should be initiated at the lowest dose": a label's dose in words
LOWEST_DOSE_RE = re.compile(r"\b(?:initiated|started|begun|begin|start) at the lowest (?:effective )?dose\b", re.I)
# A guideline recommendation that says how much to give, in words rather than an amount.
HOW_MUCH_RE = re.compile(r"\b(quantity|lowest effective|MME)\b", re.I)  # not "dosage escalation"
# A dose question for a population ("renal dosing in CKD 4?", "dose in cirrhosis") is answered by whether the
# dose changes for it: "dosage adjustment in patients with renal dysfunction is not necessary" states no amount
POPULATION_RE = re.compile(
    r"\b(renal|kidneys?|hepatic|liver|cirrho\w*|child-pugh|dialysis|hemodialysis|elderly|geriatric|older)\b"
    r"|\b(CKD|ESRD|CrCl|eGFR)\b",
    re.I,
)
# "how often can it be given, and max doses a day?": how often and how many times is said without an amount
# ("Do not give more than 6 doses in 24 hours", "may be given every 4 hours")
HOW_OFTEN_RE = re.compile(
    r"\bhow often\b|\bhow many (times|doses)\b|\b(#|number) of doses\b|\bdoses? (a|per|in|each) (day|24 ?h\w*)\b", re.I
)
TIMES_RE = re.compile(r"\b\d+ (doses|times)\b|\bevery \d+(\s?(-|to)\s?\d+)? (hours|days|weeks)\b", re.I)
CONTAINS_RE = re.compile(r"\beach (?:[\w-]+ ){0,2}contains\b", re.I)
DOSE_CHANGE_RE = re.compile(r"\bdos(e|age|ing) (adjustment|modification|reduction|change)|\badjust\w* (the )?dos", re.I)
# When to decline, and what to say then: bot.abstention (FULL_MATCH_MIN_COSINE and the rest).
MAX_QUOTES_PER_CHUNK = 3
# A quote's score is its chunk's rank score times (COVERAGE_BASE + (1 - COVERAGE_BASE) * coverage), where
# coverage is the idf-weighted share of the question's words it holds, plus PAIR_BONUS times the share of the
# question's word pairs (two words at most PAIR_WINDOW apart) it holds too: a claim's rationale tends to say
# "caspase-11 ... pyroptosis" together (SciFact train: first quote on a rationale 51.1% -> 52.1%).
COVERAGE_BASE = 0.35
# Intents whose every quote must say what is asked (how a product is kept; what to do after a missed dose)
GATED_INTENTS = frozenset({"storage", "missed_dose"})
# a question about stopping one of two drugs it names: a quote that does not name that one loses this share
OTHER_DRUG_TAPER_PENALTY = 0.3
GIVEN_WEIGHT = 0.3  # the weight of the focus's own words in the coverage of a quote of a page about it
PAIR_BONUS = 0.15
PAIR_WINDOW = 3
DUPLICATE_JACCARD = 0.7
# A quote must score at least this share of the best quote's score (weak filler is left out).
RELATIVE_FLOOR = 0.45
# A quote in a section the question asks about gains this share of its score; the section's own text or
# Highlights (its summary) gain OVERVIEW_BONUS more, as do a paper's findings.
SECTION_QUOTE_BONUS = 0.25
OVERVIEW_BONUS = 0.1
FINDINGS = {"RESULTS", "CONCLUSIONS", "CONCLUSION", "FINDINGS", "INTERPRETATION", "MAIN RESULTS"}
SHORT_ITEM_CHARS = 100
# A source this long (a guideline, a label) answers only where its title or section names the topic, or
# the quote itself does: a passage of the CDC opioid guideline that never names migraine is no answer to
# a migraine question, however close its words.
LONG_DOCUMENT_CHARS = 20_000
# A label's sections that state what the product holds or how it is packed, never how much to take: Active
# Ingredient, Description, How Supplied, Package Label
STRENGTH_CODES = frozenset({"55106-9", "34089-3", "34069-5", "51945-4"})
# Use in Specific Populations: each subsection answers for its own population (Pregnancy, Lactation and
# Nursing Mothers, Pediatric Use, Geriatric Use)
POPULATION_CODES = frozenset({"42228-7", "77290-5", "34080-2", "34081-0", "34082-8"})
POPULATION_TITLES = {"pregnancy": "42228-7", "lactation": "77290-5", "nursing mothers": "34080-2",
                     "pediatric use": "34081-0", "geriatric use": "34082-8"}  # fmt: skip
GRADED_EXTRA = 3  # graded recommendations of a guideline below the top rows an answer reads (bot.scope)
LEXICAL_EXTRA = 3  # passages best by their own BM25 that an answer considers besides the ranking's top_k
# The label's Highlights are its own summary of a section: concise, so preferred when they say the same.
HIGHLIGHTS = "Highlights"
HIGHLIGHTS_BONUS = 0.05
# In a short text without sections (an abstract), later sentences hold the findings: a quote gains up to
# this share of its score by its position (SciFact train: first quote on a rationale 43.0% -> 47.7%).
POSITION_BONUS = 0.3
# Sentences of papers that report a finding ("… was associated with …", "significantly reduced") gain this
# share (SciFact train: first quote on a rationale 47.7% -> 50%).
FINDING_BONUS = 0.15
# A label's line for the age the question gives ("in a child under 4 years of age" for a 3-year-old) before
# its other lines (a dose question keeps only the doses for that age: bot.doses).
AGE_BONUS = 0.3
# A sentence that leans on the one before it reads badly alone; it loses this share of its score.
ANAPHORA_PENALTY = 0.3
# A guideline's graded recommendation before its discussion of the evidence (bot.quotes.graded)
GRADED_BONUS = 0.3
# When every candidate quote comes from an abstract (a short research source without sections), a learned model
# (bot.quote_rank, bot/data/quote_ranker.json, trained on SciFact train by bench/train_quote_ranker.py) orders
# them (`learned_order`): every sentence of the answer's chunks is a candidate (MAX_ABSTRACT_QUOTES_PER_CHUNK
# of each, not MAX_QUOTES_PER_CHUNK), and so are those of the other candidate chunks of the same abstracts
# (SIBLING_CHUNKS: a rationale may sit in an abstract's second chunk); each quote already taken from an
# abstract lowers the model score of its others by SAME_SOURCE_PENALTY (a second abstract is heard sooner);
# no quote is dropped below the best but by LEARNED_FLOOR. SciFact train, 5-fold cross-validation by claim
# run through this code: first quote on a rationale 51.1% -> 54.9%, any 80.2% -> 82.6% (docs/EVALUATION.md).
LEARNED_QUOTES = True
ABSTRACT_KINDS = frozenset({"research", "other"})  # papers, and untyped records (BEIR corpora such as SciFact)
MAX_ABSTRACT_QUOTES_PER_CHUNK = 99
LEARNED_FLOOR = 0.0
SIBLING_CHUNKS = True
SAME_SOURCE_PENALTY = 0.2


@dataclass
class AnswerPolicy:
    top_k: int = 8
    max_bullets: int = 6
    max_bullets_per_section: int = 6
    min_score: float = 0.56
    method: str = "learned"


@dataclass
class _Candidate:
    doc_id: str
    start: int
    end: int
    quote: str
    kind: str
    score: float
    words: frozenset[str]
    chunk: Chunk
    lead: str = ""  # the list's lead-in line the quote belongs to ("Plaque Psoriasis (2.5):")
    names: bool = True  # for a dose question: the quote or its section names a specific word of it
    features: np.ndarray | None = None  # bot.quote_rank's features, for a quote of an abstract
    in_chunk: int = 0  # its place among its chunk's quotes (0: the best)
    leans: bool = False  # it leans on the sentence before it ("This testing may include: …"): ANAPHORA_PENALTY


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def _coverage(
    query: Query,
    words: set[str],
    context: set[str],
    *,
    context_weight: float = 0.5,
    given: set[str] | None = None,
) -> float:
    """idf-weighted share of the question's words in a quote (words only in its title or section count
    `context_weight`; the `given` ones, the focus a page is about, weigh GIVEN_WEIGHT)."""
    terms = {t: w * GIVEN_WEIGHT if t in given else w for t, w in query.terms.items()} if given else query.terms
    total = sum(terms.values())
    if total <= 0:
        return 0.0
    got = sum(w if t in words else (context_weight * w if t in context else 0.0) for t, w in terms.items())
    return got / total


def _population_code(chunk: Chunk) -> str | None:
    """The Specific Populations subsection a chunk is in, by its code or, where the label codes only the
    parent section, by its title ("USE IN SPECIFIC POPULATIONS › 8.3 Nursing Mothers")."""
    if chunk.code in POPULATION_CODES:
        return chunk.code
    title = " ".join(w for w in TOKEN_RE.findall(chunk.heading.split(PATH_SEP)[-1].lower()) if not w.isdigit())
    return POPULATION_TITLES.get(title)


def _pairs(stems: list[str]) -> set[tuple[str, str]]:
    """Unordered pairs of distinct stems at most PAIR_WINDOW apart."""
    out: set[tuple[str, str]] = set()
    for i, a in enumerate(stems):
        for b in stems[i + 1 : i + 1 + PAIR_WINDOW]:
            if a != b:
                out.add((a, b) if a < b else (b, a))
    return out


def build_answer(
    question: str,
    searcher: Searcher,
    policy: AnswerPolicy,
    *,
    kinds: list[str] | None = None,
    cands: Candidates | None = None,
    query: Query | None = None,
) -> Answer:
    """The answer to `question` from the index behind `searcher` (took_ms is left for the caller)."""
    index: Index = searcher.index
    query = query if query is not None else analyse(question, index, searcher.focus_of(question))
    if query.unknown:
        return decline(question, unknown=query.unknown)
    form = form_not_labelled(query, searcher)
    if form is not None:
        return decline(question, not_on=form)
    allow = allowed_rows(index, query)
    if cands is None or allow is not None or query.for_search != question:
        cands = searcher.candidates(query.for_search, kinds=kinds, allow=allow)
    prefer = index.code_mask(query.codes)
    rows, scores = searcher.rank(cands, policy.method, prefer=prefer)
    confidence = answer_confidence(cands)
    floor = min(policy.min_score, FULL_MATCH_MIN_COSINE)
    if len(rows) == 0 or confidence < floor:
        return decline(question)

    ranked, ranked_scores = rows, scores
    rows, scores = answer_rows(
        rows, scores, cands, query, searcher, policy.top_k, extra=LEXICAL_EXTRA, graded=GRADED_EXTRA
    )
    chunks = index.chunks(rows.tolist())
    info = index.doc_info(list(dict.fromkeys(c.doc_id for c in chunks.values())))
    gated = bool(query.entities and GATED_INTENTS & set(query.intents))
    if (
        confidence < policy.min_score
        and not lexical_evidence(
            query, confidence, [chunks[r] for r in rows[: policy.top_k].tolist() if r in chunks], index
        )
        and not focus_evidence(cands)
        # a labelled product asked how it is kept or what to do after a missed dose, told as a caller's story
        # ("… before a ten-hour road trip to her sister's house. How should she keep the pens?"): its label's
        # quotes that say it (the storage and missed-dose gates below) are the evidence, or there is none
        and not gated
    ):
        return decline(question)
    top_k = len(rows)  # the rows any quote may come from; after them, rows read only for abstracts
    if LEARNED_QUOTES and SIBLING_CHUNKS:
        # the other candidate chunks of the same sources (an abstract's rationale may sit in its second chunk)
        docs = np.unique(index.doc_of_row[rows])
        more = np.flatnonzero(~np.isin(ranked, rows) & np.isin(index.doc_of_row[ranked], docs))
        if len(more):
            rows, scores = np.concatenate([rows, ranked[more]]), np.concatenate([scores, ranked_scores[more]])
            chunks.update(index.chunks(ranked[more].tolist()))
    dense_of = dict(zip(cands.rows.tolist(), cands.dense.tolist(), strict=True))
    top = float(scores[0]) if float(scores[0]) > 0 else 1.0

    qpairs = _pairs(tokenize(query.text))
    rarest = rarest_topic(query, searcher) if not query.entities else ""
    rare_terms = sorted(query.terms, key=lambda t: -query.terms[t])[:2]
    negates = bool(quote_rank.NEGATION_RE.search(query.text))
    texts: dict[str, tuple[str, tuple[list[int], list[str]]]] = {}  # each abstract's text and inline labels
    doc_rank: dict[str, int] = {}
    label_doc: str | None = None  # with no drug named, label quotes come from the best label only
    # the drugs asked about besides those with a label ("haloperidol with lithium": lithium)
    partners = tuple(d for d in query.drugs if d not in same_drugs(query.entities)) if query.entities else ()
    missed = "missed_dose" in query.intents
    storing = "storage" in query.intents
    stopped = stopped_drug(query)  # of two drugs, the one a taper question asks to stop
    signs = bool(SIGN_RE.search(query.text))  # asks for signs or how often: a symptom table's run answers
    population = query.amount and bool(POPULATION_RE.search(query.text))
    focus_stems = set(query.focus.split()) if query.focus else None
    how_often = query.amount and bool(HOW_OFTEN_RE.search(query.text))
    ages = ages_in(query.text)
    # two drugs asked about together ("on oxycodone and alprazolam … get her off the benzodiazepine"): a quote
    # that names one of them, or its class, is about what was asked of the pair, and says each drug's words
    pair_stems: set[str] = set()
    if len(same_drugs(query.drugs)) >= 2:
        named = " ".join(query.drugs) + " " + " ".join(c for d in query.drugs for c in drug_names().classes.get(d, ()))
        pair_stems = set(tokenize(named)) & set(query.terms)
    # one drug asked about, not how much of it: a quote that names its class speaks of it ("hydrocodone … taper or
    # just stop?": the guideline's "If opioids are used continuously … for more than a few days")
    class_stems: set[str] = set()
    if len(same_drugs(query.drugs)) == 1 and not query.amount:
        class_stems = set(tokenize(" ".join(query.drugs))) & set(query.terms)
    pool: list[_Candidate] = []
    seen_spans: set[tuple[str, int]] = set()
    for place, (row, score) in enumerate(zip(rows.tolist(), scores.tolist(), strict=True)):
        chunk = chunks.get(row)
        if chunk is None:
            continue
        # a chunk far from the question's words is no answer, unless it is the section a gated question asks for
        # in the label it names (its storage section for a caller's story of a road trip)
        if dense_of.get(row, 0.0) < floor * 0.8 and not (gated and chunk.code in query.codes):
            continue
        doc = info.get(chunk.doc_id)
        structured = chunk.code is not None or chunk.page is not None or bool(chunk.heading)
        paper = doc is not None and doc.kind in ABSTRACT_KINDS  # a paper's findings, not a health page's
        short_paper = paper and not structured and doc is not None and 0 < doc.length <= LONG_DOCUMENT_CHARS
        abstract = LEARNED_QUOTES and short_paper
        if place >= top_k and not abstract:
            continue  # another chunk of a source is only read for the learned order of abstracts
        doc_rank.setdefault(chunk.doc_id, len(doc_rank))
        is_label = doc is not None and doc.kind == "drug_label"
        if query.entities and not is_label:
            if not names_entity(chunk.text + " " + (doc.title if doc else ""), query.entities):
                continue
            if partners and not names_any(chunk.text, partners):
                continue
        # a drug asked about that no label is about is named by every quote: the VIAGRA label's BPH study
        # is no answer about tadalafil, a dermatomyositis page none about diltiazem; a short source may name
        # it once, in its title or another sentence of the passage, a label or a long source in the quote
        long_doc = doc is not None and doc.length > LONG_DOCUMENT_CHARS
        name_drug = bool(query.drugs) and not query.entities
        if name_drug and not (is_label or long_doc):
            if not names_any(chunk.text + " " + (doc.title if doc else ""), query.drugs, classes=not query.amount):
                continue
        quote_names_drug = name_drug and (is_label or long_doc)
        if is_label and not query.entities:
            label_doc = label_doc or chunk.doc_id
            if chunk.doc_id != label_doc:
                continue
        if query.codes & POPULATION_CODES and _population_code(chunk) in POPULATION_CODES - query.codes:
            continue  # a question about nursing mothers is not answered by the Pregnancy subsection
        if query.amount and chunk.code in STRENGTH_CODES:
            continue  # "Diphenhydramine HCl 6.25 mg" (in each 5 mL) is what the product holds, not a dose
        asked_for = chunk.code is not None and chunk.code in query.codes
        bonus = SECTION_QUOTE_BONUS if asked_for else 0.0
        if asked_for and (PATH_SEP not in chunk.heading or chunk.heading.endswith(HIGHLIGHTS)):
            bonus += OVERVIEW_BONUS  # the section's own list or Highlights before its subsections' details
        elif chunk.heading.split(PATH_SEP)[-1].strip().upper() in FINDINGS:
            bonus += OVERVIEW_BONUS  # a paper's results and conclusions before its background
        title = set(tokenize(doc.title)) if doc else set()
        section = set(tokenize(chunk.heading + " " + (section_name(chunk.code) or "")))
        context = title | section
        # what the question names and asks for is said by the source's title and the section's name: a
        # quote from the contraindications of the atorvastatin label need not repeat either
        # a page about the question's focus is about what it names: what its quote says of the rest of the
        # question decides ("In hyperphosphatemic familial tumoral calcinosis, what is the serum calcium
        # usually?": "calcium is typically within the normal range")
        on_focus_page = not query.entities and focus_stems is not None and focus_stems <= title
        given = focus_stems if on_focus_page else None
        strong = (title if query.entities else set()) | (section if asked_for else set())
        # a long source answers where its title or section names the topic, or the quote itself does: where
        # neither names it, the quote names two topic words of the question (the opioid guideline says
        # "acetaminophen" and says "overdose", but never what to do for an acetaminophen overdose) and its
        # most specific word (the guideline's "first-line therapy" for acute musculoskeletal injuries is no
        # answer to "first-line treatment for dermatomyositis")
        need_topic = 0
        specific = ""
        if long_doc and not (query.topic & context):
            need_topic = min(2, len(query.topic & query.known))
            specific = query.specific[0] if query.specific else ""
        # a label answers a question that names none of the labelled drugs only where the quote names the
        # question's most specific word: the haloperidol label mentions lithium, its doses are no answer to
        # a lithium dose question; and a label that never names it (haloperidol's "no evidence establishing
        # a maximum effective dosage" for acetaminophen's maximum dose) gives no quote at all
        must = ""
        if is_label and not query.entities and not (query.topic & title):
            must = rarest
        # a dose question that names something specific (an indication, a population, a route: "uveitis",
        # "delirium", "ICU") is answered by a label only when the label speaks of all of it, and by another
        # source only in quotes that name its most specific word: another indication's dose is no answer
        if query.amount and query.specific:
            if is_label and not holds_all(searcher, int(index.doc_of_row[row]), query.specific):
                continue
            specific = "" if is_label else query.specific[0]
        local: list[_Candidate] = []
        spans = [(x.start - chunk.start, x.end - chunk.start) for x in chunk.sentences]
        for sa, sb in merge_short_items(chunk.text, spans):
            whole_line = (sa == 0 or chunk.text[sa - 1] == "\n") and (sb == len(chunk.text) or chunk.text[sb] == "\n")
            min_chars = MIN_ITEM_CHARS if whole_line and structured else MIN_QUOTE_CHARS
            for a, b in quotable_spans(chunk.text, sa, sb, min_chars=min_chars):
                start, end = chunk.start + a, chunk.start + b
                if (chunk.doc_id, start) in seen_spans:
                    continue
                quote = chunk.text[a:b]
                lead = lead_in(chunk.text, a)
                stems = tokenize(quote)
                own = query.said_by(set(stems) | set(tokenize(lead)))
                if pair_stems and names_any(f"{lead} {quote}", query.drugs):
                    own |= pair_stems
                gate = own  # what the quote names, its drug's class for the drug: whether it may answer at all
                if class_stems and not class_stems <= own and names_any(f"{lead} {quote}", query.drugs, classes=True):
                    gate = own | class_stems
                if len(query.topic & gate) < need_topic or (must and must not in gate):
                    continue
                if specific and not query.says(specific, gate):
                    continue
                if quote_names_drug and not names_any(lead + " " + quote, query.drugs, classes=not query.amount):
                    continue
                if partners and is_label and not names_any(f"{lead} {quote}", partners):
                    continue  # two drugs asked about together: the label of one answers where it names the other
                recommends = chunk.kind == "guideline" and graded(chunk.text, a, b)
                if (
                    query.amount
                    and not AMOUNT_RE.search(quote)
                    and not (recommends and HOW_MUCH_RE.search(quote))
                    and not LOWEST_DOSE_RE.search(quote)
                    and not (population and DOSE_CHANGE_RE.search(quote))
                    and not (how_often and TIMES_RE.search(quote))
                    and not (len(ages) == 1 and chunk.code in DOSAGE_CODES and for_age(quote, ages[0]))
                ):
                    # a dose question is answered by quotes that state an amount, or by a guideline's graded
                    # recommendation of how much ("prescribe no greater quantity than needed for the expected
                    # duration", "the lowest effective dosage"), or by a dosing chart's row for the age asked
                    # ("children 4 to under 6 years of age; do not use unless directed by a doctor")
                    continue
                if query.amount and CONTAINS_RE.search(f"{lead} {quote}"):
                    continue  # "each teaspoonful contains: sodium 6 mg" is what a dose holds, not a dose
                if missed and not CUES["missed_dose"].search(quote):
                    continue  # what to do after a missed dose: no dosing table, no "missing" seals
                if storing and is_label and not CUES["kept"].search(quote):
                    continue  # how a product is kept, not what is supplied ("packaging configurations")
                if not signs and TABLE_RUN_RE.search(quote):
                    continue  # a symptom table's rows ("Autoimmunity 90% Dry skin 90% …") say only signs and how often
                if query.measure and not gives_measure(query.measure, quote):
                    continue  # "what alcohol concentration": … by quotes that give that measure
                if query.amount and quote_names_drug and not amount_of(quote, query.drugs):
                    continue  # … of the drug asked about, where the source is not about that drug
                short = b - a < SHORT_ITEM_CHARS  # a list item means what its heading says of it
                cov = _coverage(query, own | strong, context, context_weight=1.0 if short else 0.5, given=given)
                word_cov = cov
                pair_share = len(qpairs & _pairs(stems)) / len(qpairs) if qpairs else 0.0
                if PAIR_BONUS and qpairs:
                    cov += PAIR_BONUS * pair_share
                cov = min(1.0, cov + cue_bonus(query, quote))
                if cov == 0 and len(chunk.sentences) > 1:
                    continue
                s = (max(score, 0.0) / top) * (COVERAGE_BASE + (1 - COVERAGE_BASE) * cov) * (1.0 + bonus)
                if chunk.heading.endswith(HIGHLIGHTS):
                    s *= 1.0 + HIGHLIGHTS_BONUS
                if is_label and not query.amount and len(ages) == 1 and for_age(quote, ages[0], adults_apart=True):
                    s *= 1.0 + AGE_BONUS
                if stopped and not stopped & set(stems):
                    s *= 1.0 - OTHER_DRUG_TAPER_PENALTY  # how to stop the opioid is no answer on the benzodiazepine
                if paper and chunk.code is None and chunk.page is None and FINDING_RE.search(quote):
                    s *= 1.0 + FINDING_BONUS  # a paper's sentence that reports a finding
                if short_paper and doc is not None:
                    # an abstract's findings come last (a health page says what a condition is first)
                    s *= 1.0 + POSITION_BONUS * (start / doc.length)
                if GRADED_BONUS and recommends:
                    s *= 1.0 + GRADED_BONUS
                # "It typically affects children ages 2 to 15 years": a health page's "it" is the condition it is about
                it_is_the_page = chunk.kind == "consumer_health" and quote.startswith("It ")
                leans = bool(ANAPHORA_RE.match(quote)) and not it_is_the_page
                if leans:
                    s *= 1.0 - ANAPHORA_PENALTY  # "Almost all these patients…" needs the sentence before it
                words = frozenset(WORD_RE.findall(quote.lower()))
                # the quote names a specific word, or the other drug asked about ("alpha-blocker" for tamsulosin)
                names = (
                    not (is_label and query.amount)
                    or bool(set(query.specific) & query.said_by(own | section))
                    or (bool(partners) and is_label)  # a label quote here names the partner (checked above)
                )
                features = None
                if abstract:
                    if chunk.doc_id not in texts:
                        full = index.document(chunk.doc_id)
                        whole = full.text if full is not None else chunk.text
                        texts[chunk.doc_id] = (whole, quote_rank.label_starts(whole))
                    features = quote_rank.quote_features(
                        quote, start, end, texts[chunk.doc_id], own=own, rare_terms=rare_terms,
                        question_negates=negates, coverage=word_cov, pairs=pair_share, chunk=max(score, 0.0) / top,
                        chunk_rank=place / max(policy.top_k, 1), doc_rank=doc_rank[chunk.doc_id],
                        dense=dense_of.get(row, 0.0),
                    )  # fmt: skip
                cand = _Candidate(
                    chunk.doc_id, start, end, quote, chunk.kind, s, words, chunk, lead, names, features, leans=leans
                )
                local.append(cand)
        local.sort(key=lambda c: -c.score)
        for n, cand in enumerate(local[: MAX_ABSTRACT_QUOTES_PER_CHUNK if abstract else MAX_QUOTES_PER_CHUNK]):
            cand.in_chunk = n if place < top_k else MAX_ABSTRACT_QUOTES_PER_CHUNK
            seen_spans.add((cand.doc_id, cand.start))
            pool.append(cand)
    _lean_on_quoted(pool)
    if query.amount:
        pool = doses_for_what_was_asked(pool, query, searcher)
    pool.sort(key=lambda c: -c.score)
    # the learned order puts a paper's findings first (it learnt from claims and their rationales); a question
    # of how a study measured something is answered by its methods, in the order of the ranking
    pool, learned = learned_order(pool, policy.max_bullets, enabled="method" not in query.intents)

    chosen = choose(pool, policy, LEARNED_FLOOR if learned else RELATIVE_FLOOR)
    if not chosen or not sources_name_specific(query, [c.chunk for c in chosen], searcher):
        return decline(question)

    return cite(question, chosen, index)


def _lean_on_quoted(pool: list[_Candidate]) -> None:
    """A quote that leans on the sentence before it loses nothing when that sentence is a better quote of the
    answer: "Additional testing can then be ordered to confirm the diagnosis …" makes "This testing may
    include: Blood tests to measure …" readable."""
    ends = {(c.doc_id, c.end): c for c in pool}
    for cand in pool:
        if not cand.leans:
            continue
        text = cand.chunk.text[: cand.start - cand.chunk.start]
        gap = len(text) - len(text.rstrip())
        before = ends.get((cand.doc_id, cand.start - gap))
        if before is not None and before.score > cand.score:
            cand.score /= 1.0 - ANAPHORA_PENALTY
            cand.leans = False


def learned_order(pool: list[_Candidate], limit: int = 6, *, enabled: bool = True) -> tuple[list[_Candidate], bool]:
    """The pool in the learned order of bot.quote_rank when every candidate is a quote of an abstract, and
    True; otherwise the pool as it was ranked, with at most MAX_QUOTES_PER_CHUNK quotes of each of the
    answer's top chunks, and False (`quote_rank.learned_order`, with SAME_SOURCE_PENALTY for each quote
    already placed from an abstract; near-duplicates, by DUPLICATE_JACCARD, do not count)."""
    return quote_rank.learned_order(
        pool,
        limit,
        enabled=LEARNED_QUOTES and enabled,
        keep=MAX_QUOTES_PER_CHUNK,
        penalty=SAME_SOURCE_PENALTY,
        near_duplicate=_near_duplicate,
    )


def _near_duplicate(a: _Candidate, b: _Candidate) -> bool:
    return _jaccard(a.words, b.words) >= DUPLICATE_JACCARD


def choose(pool: list[_Candidate], policy: AnswerPolicy, floor: float = RELATIVE_FLOOR) -> list[_Candidate]:
    """The quotes of an answer, from candidates sorted best first: the best of each kind first (so every
    kind of source that answers well enough is heard), then the rest by score; never a near-duplicate,
    never below `floor` of the best, at most `max_bullets` and `max_bullets_per_section` a kind."""
    best = pool[0].score if pool else 0.0
    eligible = [c for c in pool if c.score >= floor * best]
    firsts: dict[str, _Candidate] = {}
    for cand in eligible:
        firsts.setdefault(cand.kind, cand)
    chosen: list[_Candidate] = []
    per_kind: dict[str, int] = {}
    for cand in [*firsts.values(), *eligible]:
        if len(chosen) >= policy.max_bullets:
            break
        if any(c is cand for c in chosen) or per_kind.get(cand.kind, 0) >= policy.max_bullets_per_section:
            continue
        if any(_jaccard(cand.words, c.words) >= DUPLICATE_JACCARD for c in chosen):
            continue
        chosen.append(cand)
        per_kind[cand.kind] = per_kind.get(cand.kind, 0) + 1
    chosen.sort(key=lambda c: -c.score)
    return chosen
