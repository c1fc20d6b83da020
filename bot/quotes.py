"""What a quote is: the quotable spans of a source sentence (cross-references outside, no headings,
questions, lead-ins or funding lines, run-ons cut at clauses), short list items joined, a list item's
lead-in line, where a quote comes from (its section label, a reference's locator), and the cues that say
a quote is the kind of thing a question asks for."""

from __future__ import annotations

import re
from functools import lru_cache

from .documents import PATH_SEP, Chunk
from .drugs import names_any
from .lexical import tokenize
from .query import AMOUNT_RE, Query
from .sections import section_name

MIN_QUOTE_CHARS = 25
MIN_ITEM_CHARS = 10  # a whole list item of a structured source ("Nursing mothers") may be this short
MAX_QUOTE_CHARS = 420  # a longer run-on is cut at clause boundaries
LEAD_IN_LINES = 4  # how far above a list item its lead-in line ("Plaque Psoriasis (2.5):") is looked for
WORD_RE = re.compile(r"\w+")
# Cues that a quote says what the question asks for; each found adds CUE_BONUS to its word coverage.
CUE_BONUS = 0.15
STORAGE_CUE = r"\d\s?[º°˚]\s?[FC]\b|\brefrigerat|\broom temperature\b"
CUES = {
    "dose": AMOUNT_RE,
    "overdose": re.compile(r"\b(treat|treated|treatment|supportive|symptomatic|dialysis|hemodialysis)", re.I),
    "contraindication": re.compile(r"\bcontraindicat|\bdo not (use|give|take)\b|\bshould not\b", re.I),
    # "If you forget to take HUMIRA, inject a dose as soon as you remember": a missed dose and what to do then
    "missed_dose": re.compile(
        r"\b(miss|missed|forget|forgot|skip|skipped)\b[^.;]{0,40}\b(doses?|take|taking|inject)\b"
        r"|\bas soon as you remember\b|\bnext dose at\b|\b(2|two) doses\b[^.;]{0,30}\bsame time\b",
        re.I,
    ),
    # "any other product containing diphenhydramine, even one used on skin": another product with the same drug
    # "haloperidol may be capable of potentiating CNS depressants such as anesthetics, opiates": one drug adds
    # to another's effect
    "interaction": re.compile(
        r"\b(other|another) (products?|drugs?|medicines?|medications?) (containing|with)\b|\bpotentiat", re.I
    ),
    # "Store HUMIRA in a refrigerator at 36ºF to 46ºF (2ºC to 8ºC)": where and at what temperature it is kept
    "storage": re.compile(STORAGE_CUE, re.I),
    # "When traveling, store HUMIRA in a cool carrier", "Do not freeze": a label's quote that says how the product
    # is kept (its storage section also lists what is supplied: "The following packaging configurations are
    # available")
    "kept": re.compile(
        STORAGE_CUE + r"|\bstor(?:e|ed|age|ing)\b|\b(?:keep|kept)\b(?= (?:[\w-]+ ){0,4}?(?:in|at|out of|away from|cold"
        r"|cool|dry)\b)|\bfreez|\bfrozen\b|\btemperature|\bprotect\w* from\b|\bdiscard|\bcarrier\b|\bice pack",
        re.I,
    ),
    "taper": re.compile(r"\btaper|\breduc\w* (?:the )?(?:daily )?dos\w* (?:to|by)\b", re.I),
    "method": re.compile(
        r"\b(was|were) (assessed|measured|evaluated|determined|quantified|detected|analy[sz]ed) (by|with|using)\b",
        re.I,
    ),
    "definition": re.compile(
        r"\bdefined\b[^.;]{0,40}\bas\b|\bdefinition of\b|\brefers to\b|\bis a term\b|\bacronym\b|\bstands for\b", re.I
    ),
}
# "What is amyopathic dermatomyositis?": a bare question of what something is, answered by the sentence that
# says it ("Amyopathic dermatomyositis is a form of dermatomyositis characterized by …")
WHAT_IS_RE = re.compile(
    r"^\W*what(?:'s| is| are) (?!the\b|your\b|my\b|it\b|this\b)(?:an? )?[\w'-]+(?: [\w'-]+){0,4}\W*$", re.I
)
DEFINING_RE = re.compile(r"^\W*(?:[\w'(),-]+\s){1,8}?(?:is|are) (?:a|an|one of the)\b", re.I)
FREQUENCY_RE = re.compile(
    r"\bonce (per|a|daily)\b|\bdosing frequency\b|\bevery \d+|\b(once|twice|\d+ times) (a|per) (day|week)\b"
    r"|\bdaily\b|\bevery other week\b|\bas needed\b|\b(annually|yearly|monthly|weekly|quarterly)\b",
    re.I,
)
TIME_WORDS = frozenset({"soon", "long", "when"})
TIME_RE = re.compile(r"\bwithin \d|\b\d+(\s?[–-]\s?\d+)?\s(days?|weeks?|months?|hours?|years?)\b", re.I)
# "Where in the body do the deposits form?", "which joints are affected?": a quote that names parts of the body
WHERE_QUESTION_RE = re.compile(
    r"^\W*where\b|\bwhere in the body\b|\b(?:which|what) (?:parts? of the body|body parts?|joints?|organs?"
    r"|sites?|areas?|locations?)\b",
    re.I,
)
MAX_PLACES_CUED = 3
BODY_PART_RE = re.compile(
    r"\b(?:joints?|hips?|shoulders?|elbows?|knees?|ankles?|wrists?|hands?|feet|foot|legs?|arms?|fingers?|toes?"
    r"|skin|scalp|face|neck|chest|abdomen|spine|brain|eyes?|lungs?|liver|kidneys?|heart|muscles?|bones?"
    r"|blood vessels|trunk|thighs?|buttocks?|groin|armpits?|mouth|throat|nose|ears?|lymph nodes?)\b",
    re.I,
)
USUAL_WORDS = frozenset({"usual", "usually", "typical", "normal", "standard", "regular"})
USUAL_RE = re.compile(r"\bmost patients\b|\brecommended (starting |initial )?dose\b|\busual\b", re.I)
# The grade a guideline gives its own recommendations: the CDC's "(recommendation category: B; evidence type:
# 4)", the WHO's "(Strong recommendation, very low quality of evidence)" on the line after
GRADE_RE = re.compile(
    r"\((?:recommendation category\b|(?:strong|conditional|weak|good practice) recommendation\b)[^)]*\)", re.I
)

# Cross-references of label text: "(5.1)", "(4.1, 7.1, 12.2)", "[see Warnings and Precautions (5.1)]", and a
# guideline's numbered citations "(192)", "(11,131, 132)";
# "(see DOSAGE AND ADMINISTRATION)". They are structure, not quote text.
XREF_RE = re.compile(
    r"\s*\[\s*see\b[^\]]{0,200}\]"
    r"|\s*\(\s*see\b[^()]{0,200}(?:\([^()]{0,40}\)[^()]{0,100})*\)"
    r"|\s*\(\s*\d{1,3}(?:\.\d{1,2})*(?:\s*(?:,|and|-|–)\s*\d{1,3}(?:\.\d{1,2})*)*\s*\)"
)
CLAUSE_RE = re.compile(r"[;:]\s+")
# A comma that opens a reason or an aside after a sentence's main clause (", because of …", ", which …").
TRAILING_REASON_RE = re.compile(r",\s+(?:because|since|given|which|although|particularly|especially|including)\b")
# A sentence of a paper that reports a finding.
FINDING_RE = re.compile(
    r"\b(significant(ly)?|increased?|decreased?|reduced?|associated with|higher|lower|p\s?[<=]|odds ratio"
    r"|hazard ratio|95% ci|fold|we (found|show|demonstrate)|results? (show|indicate|suggest)|conclude)\b",
    re.I,
)
# A sentence that leans on the one before it ("Almost all these patients…").
ANAPHORA_RE = re.compile(
    r"(?:almost all |most of |all of |in |of |for )?(?:this|these|those|they|it|such|both|he|she)\b"
    r"|.{0,60}\bthe (above|aforementioned)\b",
    re.I,
)

# Funding and registration lines of an abstract are not evidence.
NOT_EVIDENCE_RE = re.compile(
    r"^\W*(funded by|supported by|copyright|©)|clinicaltrials\.gov (number|identifier)"
    # pages' navigation and registry lines (GARD, GHR, HPO tables): no evidence in them
    r"|click on the link|^\W*genetic testing registry:|no information on frequency is available"
    # the Human Phenotype Ontology's note on its symptom tables (GARD pages)
    r"|human phenotype ontology|\borphanet\b|frequency (of a sign or symptom|may also be listed)|number of the fraction"
    r"|a frequency of \d+/\d+|these frequencies are based on|sign or symptom may be rare or common"
    r"|medlineplus medical dictionary to look up|the table below includes how often"
    r"|approximate number of patients \(when available\)"
    # an abstract's own citation line ("JAMA. 2000;284:1546-1548."): where it was published, not what it found
    r"|^\W*(?:[A-Z][\w.&]*+\s?){1,6}\d{4}\s?;\s?\d+(?:\(\d+\))?\s?:\s?[A-Z]?\d+(?:\s?[-–]\s?[A-Z]?\d+)?\.?\s*$"
    # a label's product codes and packaging: what the pharmacist dispenses, not what the clinician asks
    r"|\bNDC\b|dispensed in a carton"
    # a patient leaflet's pointers to its own figures and sections ("See Figure N.", "See the section below
    # called 'Prepare the HUMIRA Pen'."): directions to read on, not what it says
    # a guideline's "(See Recommendation 5 for tapering considerations …)": where to read on
    r"|^\W*see (figure|the section|recommendations? \d)\b",
    re.I,
)
# A page's symptom table read as one run ("Autoimmunity 90% Chondrocalcinosis 90% Dry skin 90% …"): it answers
# what the signs of a condition are and how often, and nothing else (bot.answer)
TABLE_RUN_RE = re.compile(r"(?:\d{1,3}(?:\.\d+)?%\s+[A-Z][^.%;]{2,60}?\s+){2}\d{1,3}(?:\.\d+)?%")
SIGN_RE = re.compile(
    r"\b(?:symptoms?|signs?|features?|characteristics|frequency|freq|frequent|often|common|percent(?:age)?|hpo"
    r"|proportion|how many)\b|%",  # "amyopathic DM: % with periorbital edema?"
    re.IGNORECASE,
)
# A pointer to another web site that a page's flattened text runs into a sentence ("… and/or infection
# Medscape Reference's Web site offers more …"): the quote ends before it.
POINTER_TAIL_RE = re.compile(
    r"\s+(?=Medscape Reference's Web site|Please click on the link|You can find relevant journal"
    r"|The Human Phenotype Ontology \(HPO\) has collected)"  # the HPO note after a GARD symptom table
)
# A GARD page's flattened symptom table starts with its column heads; the rows after them are the answer
# ("Scoliosis 5% Wormian bones 5% Brachydactyly syndrome - …").
TABLE_HEAD_RE = re.compile(r"Signs and Symptoms Approximate number of patients \(when available\)\s+")
# A structured abstract's label written at the head of a sentence ("RESULTS AND CONCLUSIONS: A case …").
LABEL_HEAD_RE = re.compile(r"[A-Z][A-Z ]{2,40}:\s+(?=[A-Z0-9])")
# A sentence that only announces a list ("… include the following") says nothing by itself.
LEAD_IN_RE = re.compile(r"\b(the following|as follows|include|includes|including)\W*$", re.I)


def _title_like(sentence: str) -> bool:
    """A heading-like line ("Less Common Adverse Reactions in Rheumatoid Arthritis Clinical Studies"):
    no closing punctuation, and most of its words capitalised."""
    if sentence[-1:] in ".!)\"'”%":
        return False
    words = [w for w in sentence.split() if w[:1].isalpha()]
    if len(words) < 2:
        return False
    small = {"and", "or", "of", "in", "the", "a", "an", "for", "to", "with", "on", "by", "at", "vs"}
    capital = sum(1 for w in words if w[0].isupper() or w.lower() in small)
    return capital == len(words)


def _strip_end(text: str, start: int, end: int) -> tuple[int, int]:
    """Trim whitespace, and a dangling comma or opening bracket left by a cut, from a span's ends."""
    while start < end and (text[start].isspace() or text[start] in ",;:"):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ",;:([–-"):
        end -= 1
    return start, end


def quotable_spans(text: str, start: int, end: int, *, min_chars: int = MIN_QUOTE_CHARS) -> list[tuple[int, int]]:
    """The quotable pieces of one sentence of `text`: cross-references fall outside every piece, a
    question is not quotable, and a run-on longer than MAX_QUOTE_CHARS is cut at clause boundaries."""
    tail = POINTER_TAIL_RE.search(text, start, end)
    if tail is not None:
        end = tail.start()
    label = LABEL_HEAD_RE.match(text, start, end) or TABLE_HEAD_RE.match(text, start, end)
    if label is not None:
        start = label.end()  # "INTRODUCTION: The increasing …": the abstract's label is no quote text
    sentence = text[start:end].rstrip()
    if sentence.endswith("?") or sentence.endswith(":") or LEAD_IN_RE.search(sentence) or _title_like(sentence):
        return []
    if NOT_EVIDENCE_RE.search(sentence) or GRADE_RE.fullmatch(sentence.rstrip(". ")):
        return []  # "(Strong recommendation, very low quality of evidence)" grades the sentence before it
    pieces: list[tuple[int, int]] = []
    pos = start
    for m in XREF_RE.finditer(text, start, end):
        if re.search(r"(%|\d\.\d+)\s*$", text[max(start, m.start() - 8) : m.start()]):
            continue  # "5.2% (4.9, 5.6)": a confidence interval, not a cross-reference
        pieces.append((pos, m.start()))
        pos = m.end()
    pieces.append((pos, end))
    had_xref = len(pieces) > 1
    if had_xref:
        pieces = [p for p in (_whole_piece(text, a, b, start, end) for a, b in pieces) if p is not None]
    out: list[tuple[int, int]] = []
    for a, b in pieces:
        a, b = _strip_end(text, a, b)
        if b - a > MAX_QUOTE_CHARS:
            cut = a
            for m in CLAUSE_RE.finditer(text, a, b):
                if text.count("(", a, m.start()) > text.count(")", a, m.start()):
                    continue  # "(recommendation category: B; …)": no clause ends inside brackets
                if m.start() - cut >= MIN_QUOTE_CHARS:
                    out.append(_strip_end(text, cut, m.start() + 1))
                    cut = m.end()
            out.append(_strip_end(text, cut, b))
        elif b - a > 0:
            out.append((a, b))
    # a heading or table caption followed by its cross-references is still a heading
    return [(a, b) for a, b in out if b - a >= min_chars and not (had_xref and _title_like(text[a:b]))]


def _whole_piece(text: str, a: int, b: int, start: int, end: int) -> tuple[int, int] | None:
    """A piece of a sentence cut at its cross-references, as a statement of its own, or None: it starts
    the sentence (or a new clause with a capital letter), and it ends the sentence (or the cross-reference
    after it closes a clause: "; …"). "Clinicians should offer naloxone … more frequently (see
    Recommendation 7) when factors are present" is no quote without its condition, nor "and offer naloxone".
    A piece whose cross-reference sits inside a trailing reason ("…the dosage of methadone, because of the
    variable half-life of this drug (see Recommendation 3) and …") is quoted up to that reason's comma; one
    inside a list of examples ("…, including patients with a history of overdose, patients taking
    benzodiazepines with opioids (see Recommendation 11), patients at risk …") up to the cross-reference."""
    head = text[a:b].lstrip(" ,;:")
    clause = text[a:b].lstrip()[:1] in (";", ":")  # "(4.1); avoid use with riociguat": a clause of its own
    starts = a == start or clause or head[:1].isupper() or head[:1].isdigit()
    if not starts:
        return None
    rest = text[b:end]
    after = XREF_RE.match(rest)
    tail = rest[after.end() :] if after else rest
    if not tail.strip(" .;:)\"'”") or tail.lstrip()[:1] in ";:.":
        return a, b
    reasons = list(TRAILING_REASON_RE.finditer(text, a, b))
    if reasons and reasons[-1].group(0).endswith("including") and tail.lstrip()[:1] == ",":
        return a, b  # "…, including patients with a history of overdose, … (see Recommendation 11), …": the
        # examples before the cross-reference are quoted, the list being examples in any case
    if reasons and reasons[-1].start() - a >= MIN_QUOTE_CHARS:
        return a, reasons[-1].start()
    return None


def merge_short_items(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence spans with runs of short inline list items on one line ("heart disease • high blood
    pressure • thyroid disease") joined into one span: alone, each is too short to quote."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and b - a < MIN_QUOTE_CHARS:
            pa, pb = out[-1]
            between = text[pb:a]
            if "\n" not in between and not between.strip(" \t\u2022-*;,") and (pb - pa < MAX_QUOTE_CHARS):
                prev_short = pb - pa < MIN_QUOTE_CHARS or "\u2022" in text[pa:pb]
                if prev_short:
                    out[-1] = (pa, b)
                    continue
        out.append((a, b))
    return out


def graded(text: str, start: int, end: int) -> bool:
    """The sentence at `start`-`end` of `text` belongs to a graded recommendation: the grade is in it or
    closes its line, or stands alone on the next line."""
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    if GRADE_RE.search(text, start, line_end):
        return True
    nxt = text.find("\n", line_end + 1)
    following = text[line_end + 1 : len(text) if nxt < 0 else nxt].strip()
    return bool(following) and GRADE_RE.fullmatch(following) is not None


@lru_cache(maxsize=256)
def _stems(text: str) -> frozenset[str]:
    """The stems of a question or of a body place, once each (cue_bonus is asked for every candidate quote)."""
    return frozenset(tokenize(text))


def cue_bonus(query: Query, quote: str) -> float:
    """What a quote gains for saying the kind of thing the question asks for: an amount for a dose
    question, "most patients" or "recommended" for the usual dose."""
    bonus = 0.0
    for intent in query.intents:
        cue = CUES.get(intent)
        if cue is not None and cue.search(quote):
            bonus += CUE_BONUS
            if intent == "interaction" and names_any(quote, query.drugs, classes=False):
                bonus += CUE_BONUS  # "with any other product containing diphenhydramine": the drug asked about
    if query.asked and re.search(rf"\b{re.escape(query.asked)}", quote, re.I):
        bonus += CUE_BONUS  # "which muscle enzymes …?": "… certain muscle enzymes (i.e. creatine kinase and aldolase)"
    if WHAT_IS_RE.match(query.text) and DEFINING_RE.match(quote):
        bonus += CUE_BONUS
    if query.words & USUAL_WORDS and USUAL_RE.search(quote):
        bonus += CUE_BONUS
    if "often" in query.words and FREQUENCY_RE.search(quote):
        bonus += CUE_BONUS
    if query.words & TIME_WORDS and TIME_RE.search(quote):
        bonus += CUE_BONUS
    if WHERE_QUESTION_RE.search(query.text):
        # the more places a quote names, the more it says where ("most often the hips, shoulders, and elbows");
        # not a place the question names itself ("where does the muscle weakness begin?": every quote says muscle)
        asked = _stems(query.text)
        places = {m.group(0).lower() for m in BODY_PART_RE.finditer(quote)}
        bonus += CUE_BONUS * min(sum(1 for p in places if not _stems(p) <= asked), MAX_PLACES_CUED)
    return bonus


def lead_in(text: str, pos: int) -> str:
    """The lead-in line ("Plaque Psoriasis (2.5):") of the list item at `pos`: the nearest line before it,
    within a few lines, that ends with a colon; "" when there is none."""
    end = text.rfind("\n", 0, pos)
    for _ in range(LEAD_IN_LINES):
        if end < 0:
            return ""
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end].strip()
        if line.endswith(":"):
            return XREF_RE.sub("", line[:-1]).strip()
        end = start - 1
    return ""


def section_label(chunk: Chunk) -> str | None:
    """Where a quote comes from, for people: "Boxed Warning › WARNING: SERIOUS INFECTIONS…", "CONCLUSIONS",
    "Recommendations, p. 16"."""
    label = chunk.heading or ""
    name = section_name(chunk.code)
    if name and name.lower() not in label.lower():
        label = f"{name}{PATH_SEP}{label}" if label else name
    if chunk.page is not None:
        label = f"{label}, p. {chunk.page}" if label else f"p. {chunk.page}"
    return label or None


def locator(chunks: list[Chunk]) -> str | None:
    """What a reference points at: the named sections quoted (top level), or the pages."""
    names: dict[str, None] = {}
    pages: dict[int, None] = {}
    for chunk in chunks:
        name = section_name(chunk.code) or (chunk.heading.split(PATH_SEP)[0] if chunk.heading else "")
        if chunk.page is not None:
            pages[chunk.page] = None
        elif name:
            names[name] = None
    parts = list(names)
    if pages:
        nums = sorted(pages)
        parts.append(("p. " if len(nums) == 1 else "pp. ") + ", ".join(str(n) for n in nums))
    return "; ".join(parts) or None
