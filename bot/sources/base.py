"""What every source format shares: the error a reader raises, the load report, and `make_document`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..documents import Document, Part, Section

# Headings that give a section of an answer-shaped document its own kind, as the seed answer does.
KIND_HEADING_RE = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?From the (?P<what>Guidelines?|FDA Drug Labels?|Drug Labels?|Research)[ \t]*:?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_HEADING_KINDS = {"guideline": "guideline", "fda drug label": "drug_label", "drug label": "drug_label"}


class CorpusError(Exception):
    """A file (or line) that cannot be turned into a document; the message says why, in one line."""


@dataclass
class Problem:
    path: str
    reason: str


@dataclass
class LoadReport:
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files_read: int = 0
    duplicates: int = 0

    @property
    def files_skipped(self) -> int:
        return len({p.path.split(":")[0] for p in self.problems if not p.reason.startswith("duplicate")})


@dataclass
class Context:
    """What a format reader is told about the file it reads."""

    path: Path
    doc_id: str  # the id a one-document file gets (its path under the corpus, without suffix)
    default_kind: str | None = None  # the folder's kind (corpus.yaml or a folder named guidelines/…)
    problems: list[Problem] = field(default_factory=list)  # per-record problems of a many-record file

    def problem(self, where: str, reason: str) -> None:
        self.problems.append(Problem(where, reason))


def _heading_kind(what: str) -> str:
    what = what.lower().rstrip("s")
    return _HEADING_KINDS.get(what, "research" if what.startswith("research") else what.replace(" ", "_"))


def kind_sections(text: str) -> list[Section]:
    """Sections of an answer-shaped text, from each "From the …" heading to the next."""
    marks = [(m.start(), _heading_kind(m.group("what"))) for m in KIND_HEADING_RE.finditer(text)]
    return [
        Section(start, marks[i + 1][0] if i + 1 < len(marks) else len(text), kind)
        for i, (start, kind) in enumerate(marks)
    ]


def clean(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def make_document(
    doc_id: str,
    text: str,
    *,
    title: str | None = None,
    kind: str | None = None,
    url: str | None = None,
    date: str | None = None,
    source: str = "",
    parts: list[Part] | None = None,
    meta: dict[str, Any] | None = None,
) -> Document:
    """Normalise line endings, find kind sections, and check the text is usable.

    Structured readers pass `parts` (their offsets must already be into normalised text: "\\n" line ends)."""
    if not isinstance(text, str):
        raise CorpusError("text is not a string")
    if parts:
        if "\r" in text or "\x00" in text:
            raise CorpusError("structured text must use \\n line ends and hold no NUL")
    else:
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        raise CorpusError("no text")
    sections = [] if parts else kind_sections(text)
    return Document(
        id=doc_id,
        title=clean(title) or doc_id,
        text=text,
        kind=(clean(kind) or (sections[0].kind if sections else "other")).lower().replace(" ", "_"),
        url=clean(url),
        date=clean(date),
        source=source,
        sections=sections,
        cites_inline=bool(sections),
        parts=list(parts or []),
        meta=dict(meta or {}),
    )


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise CorpusError("binary file (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"not valid UTF-8 (byte {exc.start})") from None


class TextBuilder:
    """Builds a structured document's text with its outline: headings on their own lines (outside every
    part), then each paragraph, list item or table row as one line of a part.

        tb = TextBuilder()
        tb.heading("5 WARNINGS AND PRECAUTIONS")
        tb.paragraphs(["Serious infections …", "Malignancies …"], path=("WARNINGS AND PRECAUTIONS",), code="43685-7")
        text, parts = tb.finish()
    """

    def __init__(self) -> None:
        self._chunks: list[str] = []
        self._len = 0
        self.parts: list[Part] = []

    def _add(self, s: str) -> None:
        self._chunks.append(s)
        self._len += len(s)

    def _gap(self) -> None:
        if self._len:
            self._add("\n\n")

    @staticmethod
    def _line(s: str) -> str:
        return " ".join(s.split())

    def heading(self, title: str) -> None:
        title = self._line(title)
        if title:
            self._gap()
            self._add(title)

    def paragraphs(
        self, lines: list[str], *, path: tuple[str, ...], code: str | None = None, page: int | None = None
    ) -> Part | None:
        """One part of consecutive lines (whitespace inside each line collapsed; empty ones dropped)."""
        lines = [ln for ln in (self._line(x) for x in lines) if ln]
        if not lines:
            return None
        self._gap()
        start = self._len
        self._add("\n".join(lines))
        part = Part(start, self._len, tuple(p for p in path if p), code, page)
        self.parts.append(part)
        return part

    def finish(self) -> tuple[str, list[Part]]:
        return "".join(self._chunks), self.parts
