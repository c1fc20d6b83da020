"""The data the bot works with: documents, their chunks, search hits and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KNOWN_KINDS = ("guideline", "drug_label", "research")
KIND_HEADINGS = {
    "guideline": "From the Guidelines",
    "drug_label": "From the FDA Drug Label",
    "research": "From the Research",
}


def kind_heading(kind: str) -> str:
    """The section heading for a source kind, as the seed answer writes it."""
    if kind in KIND_HEADINGS:
        return KIND_HEADINGS[kind]
    if kind == "other":
        return "From Other Sources"
    return "From " + kind.replace("_", " ").replace("-", " ").title()


def kind_order(kind: str) -> tuple[int, str]:
    """Sort key: guidelines, drug labels, research, then other kinds alphabetically."""
    return (KNOWN_KINDS.index(kind), "") if kind in KNOWN_KINDS else (len(KNOWN_KINDS), kind)


@dataclass(frozen=True)
class Span:
    """A half-open character range `[start, end)` of a document's text."""

    start: int
    end: int


@dataclass(frozen=True)
class Section:
    """A region of a document with its own source kind (e.g. the seed's "From the Research")."""

    start: int
    end: int
    kind: str


PATH_SEP = " \u203a "  # "WARNINGS AND PRECAUTIONS › 5.1 Serious Infections"


@dataclass(frozen=True)
class Part:
    """The body of one section of a structured source (headings are outside it): its place in the
    document's outline, the section's code (an SPL LOINC code) and the page it is on (PDFs).

    Inside a part every line is one paragraph, list item or table row; headings, section numbers and
    cross-references are structure, never part of a part's lines' quotable text."""

    start: int
    end: int
    path: tuple[str, ...]
    code: str | None = None
    page: int | None = None

    @property
    def heading(self) -> str:
        return PATH_SEP.join(self.path)


@dataclass
class Document:
    id: str
    title: str
    text: str
    kind: str = "other"
    url: str | None = None
    date: str | None = None
    source: str = ""
    sections: list[Section] = field(default_factory=list)
    cites_inline: bool = False  # trailing "… 4, 5" numbers are the source's own citations
    # Structured sources (SPL, PubMed, JATS, PDF): the outline; empty for plain text (headings are guessed).
    parts: list[Part] = field(default_factory=list)
    # What the source says about itself: `origin` ("FDA label", "PubMed", "PMC", "PDF"), `entities` (the
    # drugs, products or topics it is about), set id, version, PMID, DOI, journal, MeSH terms, licence…
    meta: dict[str, Any] = field(default_factory=dict)

    def kind_at(self, offset: int) -> str:
        for section in self.sections:
            if section.start <= offset < section.end:
                return section.kind
        return self.kind


@dataclass
class Chunk:
    """A piece of one document: `text == document.text[start:end]`, with its sentence spans."""

    id: int
    doc_id: str
    start: int
    end: int
    text: str
    kind: str
    heading: str
    sentences: list[Span]
    hash: str = ""
    code: str | None = None  # the section code of the part the chunk is in (SPL LOINC)
    page: int | None = None  # the page the chunk is on (PDFs)


@dataclass
class Hit:
    chunk: Chunk
    score: float
    dense: float | None = None
    bm25: float | None = None


@dataclass
class Bullet:
    quote: str
    citations: list[int]
    doc_id: str
    start: int
    end: int
    section: str | None = None  # where in its source: "BOXED WARNING", "CONCLUSIONS", "p. 16"…


@dataclass
class AnswerSection:
    kind: str
    heading: str
    bullets: list[Bullet]


@dataclass
class Reference:
    n: int
    doc_id: str
    title: str
    kind: str
    url: str | None
    source: str | None = None  # what the document is: "FDA label", "PubMed", "PMC", "PDF"…
    date: str | None = None  # its date as the source gives it (label effective date, publication year)
    locator: str | None = None  # the parts quoted: "Boxed Warning", "CONCLUSIONS", "pp. 16, 17"


@dataclass
class Answer:
    question: str
    answered: bool
    sections: list[AnswerSection]
    references: list[Reference]
    took_ms: float = 0.0
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def quotes(self) -> list[Bullet]:
        return [b for s in self.sections for b in s.bullets]
