"""What a consumer-health question is about (its focus: a disease, a drug, a procedure) and what it asks
of it (its type: treatment, symptoms, causes, contagion…).

Real questions are long and personal ("Hi, my 6-year-old daughter has had a rash on her cheeks since last
week and her doctor said fifth disease; is it contagious and can she go to school?"). The focus is what a
document of the index is about: the longest document title the question names ("fifth disease"). The type
is read from the question's words; a document's own type from the question it answers (FAQ-style sources
such as MedQuAD give it) or from its section heading ("Signs and Symptoms"). Search ranks a passage of the
right focus and type first (bot/ranker.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from .lexical import tokenize

# Question types, most specific first; a question may ask several ("is it contagious and can she go to
# school?"). The names are MedQuAD's `qtype` values where one exists.
QTYPES: dict[str, str] = {
    "contagion": r"\bcontagious|\binfectious\b|\bspread(s|ing)?\b|\bcatch(ing)? (it|this)\b|\btransmi(t|ssion|tted)"
    r"|\bpass (it|this) (on|to)\b",
    "inheritance": r"\binherit|\bhereditary|\brun(s)? in (the |my |our )?famil|\bpass(ed)? (it |this )?down\b"
    r"|\bgenetic\b(?! (change|mutation|cause|basis|test))",
    "genetic changes": r"\bgenes?\b|\bmutat|\bgenetic (change|cause|basis)|\bchromosom",
    "frequency": r"\bhow (many|common)\b|\bprevalen|\bincidence\b|\bhow rare\b",
    "susceptibility": r"\bwho (is|are|gets?)( at risk)?\b|\brisk factors?\b|\bam i (at|more) (risk|likely)"
    r"|\bmore likely to (get|have|develop)\b|\bmy (risk|chances?)\b",
    "symptoms": r"\bsymptom|\bsigns?\b|\bwhat does (it|this|\w+) (feel|look) like\b|\bwatch (out )?for\b",
    "exams and tests": r"\bdiagnos|\btests?\b|\btested\b|\bexams?\b|\bscreen(ing|ed)?\b|\bdetect|\bfind out if\b",
    "treatment": r"\btreat|\btherap|\bcur(e|ed|able)\b|\bmanag(e|ed|ing|ement)\b|\bmedicat|\bmedicines?\b"
    r"|\bdrugs? for\b|\bwhat (can|should|do) (i|we|you) do\b|\bwhat to do\b|\bget rid of\b|\bsurgery\b|\boperation\b",
    "prevention": r"\bprevent|\bavoid (getting|it)\b|\bprotect (myself|him|her|them|my)"
    r"|\b(lower|reduce) (my|the|our) risk",
    "outlook": r"\boutlook\b|\bprognos|\blife expectancy|\bsurviv|\bgo away\b|\brecover|\bget better\b|\bfatal\b"
    r"|\bdie (of|from)\b|\bhow long (will|does|do|can)\b|\bnormal life\b",
    "causes": r"\bcaus|\bwhy (do|does|did|would|is|are|am)\b|\breasons?\b|\btrigger|\bwhat brings on\b",
    "complications": r"\bcomplications?\b|\blead to\b|\blong[\s-]term effects?\b",
    "research": r"\bresearch\b|\bclinical trials?\b|\bnew (treatments?|studies|drugs?)\b",
    "information": r"\bwhat (is|are)\b|\bwhat's\b|\binformation (about|on)\b|\btell me about\b|\bexplain\b",
}
_QTYPE_RES = {name: re.compile(rx, re.IGNORECASE) for name, rx in QTYPES.items()}
QTYPE_NAMES: tuple[str, ...] = tuple(QTYPES)
# "What is X" is the question of last resort: a question that also asks for a treatment asks for that.
FALLBACK = "information"

FOCUS_MAX_WORDS = 8  # titles longer than this are paper titles, not the name of a condition or a drug


def question_types(text: str) -> tuple[str, ...]:
    """The types a question asks, in the order of QTYPES; "information" only when it asks nothing else."""
    found = [name for name, rx in _QTYPE_RES.items() if rx.search(text)]
    specific = [name for name in found if name != FALLBACK]
    return tuple(specific) if specific else tuple(found)


def title_key(title: str) -> str:
    """A title as the focus lexicon holds it: its stemmed words without stop words and brackets
    ("Paget's disease of bone" -> "paget diseas bone")."""
    return " ".join(tokenize(re.sub(r"\([^)]*\)", " ", title)))


# "Dermatomyositis - What causes Dermatomyositis ?": a page titled with its topic and the question it answers
_TITLE_QUESTION_RE = re.compile(r"^(?P<topic>.+?)\s+[-–—:|]\s+(?P<question>[^-–—:|]+\?)\s*$")


def split_title(title: str) -> tuple[str, str | None]:
    """A title's topic and, for an FAQ-style page titled "Topic - Question?", the question it answers."""
    m = _TITLE_QUESTION_RE.match(title or "")
    return (m.group("topic"), m.group("question")) if m else (title or "", None)


def focus_key(title: str) -> str:
    """The key a document's title gives the focus lexicon: its topic's stemmed words ("" when the title is no
    short name of a condition or drug)."""
    key = title_key(split_title(title or "")[0])
    return key if len(key) >= 3 and len(key.split()) <= FOCUS_MAX_WORDS else ""


def focus_lexicon(titles: Iterable[tuple[int, str]]) -> dict[str, list[int]]:
    """Short document titles (a condition's or a drug's name) -> the document numbers with that title."""
    return lexicon_of((doc_no, focus_key(title)) for doc_no, title in titles)


def lexicon_of(keys: Iterable[tuple[int, str]]) -> dict[str, list[int]]:
    """Focus keys of document numbers ("" for none) -> the numbers of the documents with each key."""
    out: dict[str, list[int]] = {}
    for doc_no, key in keys:
        if key:
            out.setdefault(key, []).append(doc_no)
    return out


def find_focus(text: str, lexicon: Mapping[str, object], fix: Callable[[str], str] | None = None) -> str | None:
    """The longest title key of `lexicon` that the question names (stemmed, in order, stop words aside);
    `fix` corrects a misspelt stem first ("kallman" -> "kallmann"). None when it names none."""
    stems = tokenize(text)
    if fix is not None:
        stems = [fix(s) for s in stems]
    for n in range(min(FOCUS_MAX_WORDS, len(stems)), 0, -1):
        found = [" ".join(stems[i : i + n]) for i in range(len(stems) - n + 1)]
        hits = [key for key in found if key in lexicon]
        if hits:
            return max(hits, key=len)
    return None
