"""An answer laid out from the quotes chosen for it: a section per kind of source, in the seed's order
(`bot.documents.kind_order`), the quotes of each in the order they were chosen, each cited by the number of
its source, and the numbered references (title, kind, link, origin, date, the sections quoted)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .documents import PATH_SEP, Answer, AnswerSection, Bullet, Chunk, Reference, kind_heading, kind_order
from .index import Index
from .quotes import locator, section_label


class Chosen(Protocol):
    """A quote chosen for an answer (`bot.answer._Candidate`)."""

    doc_id: str
    start: int
    end: int
    quote: str
    kind: str
    chunk: Chunk
    lead: str  # the list's lead-in line the quote belongs to ("Plaque Psoriasis (2.5):")


def cite(question: str, chosen: Sequence[Chosen], index: Index) -> Answer:
    """The answer to `question` that quotes `chosen` (best first) from the index's documents."""
    # Sections in the seed's order; within a section the quote that answers best comes first.
    by_kind: dict[str, list[Chosen]] = {}
    for cand in chosen:
        by_kind.setdefault(cand.kind, []).append(cand)
    numbers: dict[str, int] = {}
    quoted: dict[str, list[Chunk]] = {}
    sections: list[AnswerSection] = []
    for kind in sorted(by_kind, key=kind_order):
        bullets = []
        for cand in by_kind[kind]:
            n = numbers.setdefault(cand.doc_id, len(numbers) + 1)
            quoted.setdefault(cand.doc_id, []).append(cand.chunk)
            label = section_label(cand.chunk)
            if cand.lead:
                label = f"{label}{PATH_SEP}{cand.lead}" if label else cand.lead
            bullets.append(Bullet(cand.quote, [n], cand.doc_id, cand.start, cand.end, label))
        sections.append(AnswerSection(kind, kind_heading(kind), bullets))
    meta = index.doc_info(list(numbers))
    references = [
        Reference(
            n,
            doc_id,
            meta[doc_id].title,
            meta[doc_id].kind,
            meta[doc_id].url,
            source=_str_or_none(meta[doc_id].meta.get("origin")),
            date=meta[doc_id].date,
            locator=locator(quoted[doc_id]),
        )
        for doc_id, n in numbers.items()
    ]
    return Answer(question=question, answered=True, sections=sections, references=references)


def _str_or_none(value: object) -> str | None:
    return str(value) if value else None
