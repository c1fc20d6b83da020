"""Split documents along their structure into chunks and sentences that keep exact character offsets.

Structure, from coarse to fine: kind sections ("From the Research"), headings, paragraphs and bullets,
sentences. A chunk never crosses a heading or a kind section; inside one it gathers whole sentences
up to `size` characters, and repeats the last `overlap` sentences of the previous chunk. A sentence
longer than `size` is cut at whitespace. Every span satisfies `text[start:end] == quote`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .documents import Chunk, Document, Span
from .sections import section_name

BULLET_RE = re.compile(r"[ \t]*(?:[-*\u2022\u25aa\u25cf]|\d{1,3}[.)])[ \t]+")
MD_HEADING_RE = re.compile(r"[ \t]*#{1,6}[ \t]+\S")
# Sentence ends: . ! ? (optionally closed by quotes/brackets) followed by whitespace and a likely start.
SENT_END_RE = re.compile(r"[.!?][\"')\]]*(?=\s+[\"'(\[]?[A-Z0-9\u2022])")
# Inline bullets inside one line, as in MedQuAD ("…cells).    - Leukemia…") or FDA labels ("… • Active…").
INLINE_BULLET_RE = re.compile(r"\s{2,}[-*]\s+|\s+\u2022\s+")
ABBREVIATIONS = {
    "e.g", "i.e", "vs", "etc", "dr", "mr", "mrs", "ms", "prof", "fig", "figs", "al", "approx", "no",
    "ref", "refs", "vol", "eq", "st", "mg", "ml", "min", "max", "sec", "ca", "cf", "resp", "inc", "co",
}  # fmt: skip
WORD_CHAR_RE = re.compile(r"\w")
TRAILING_CITATION_RE = re.compile(r"(?<=[A-Za-z)\]%])\s+\d{1,3}(?:\s*,\s*\d{1,3})*\s*[.;]?$")


@dataclass(frozen=True)
class Block:
    """A paragraph or a bullet: a run of text under one heading in one kind section."""

    start: int
    end: int
    heading: str
    kind: str
    part: int = -1  # the index of the document's Part it is in (structured sources), else -1


def _is_heading(line: str, next_line: str | None) -> bool:
    stripped = line.strip()
    if MD_HEADING_RE.match(line):
        return True
    if not stripped or len(stripped) > 80 or BULLET_RE.match(line) or next_line is None:
        return False
    if stripped[-1] in ".,;:!?)]\"'" or not stripped[0].isupper():
        return False
    return len(stripped.split()) <= 10 and bool(next_line.strip())


def part_blocks(doc: Document) -> list[Block]:
    """A structured document's blocks: each line of each part (a paragraph, list item or table row), with
    the part's section path as heading. Headings are outside parts, so they are never quoted."""
    return list(_part_blocks(doc))


def _part_blocks(doc: Document) -> Iterator[Block]:
    for n, part in enumerate(doc.parts):
        pos = part.start
        for line in doc.text[part.start : part.end].split("\n"):
            s, e = _strip_span(doc.text, pos, pos + len(line))
            pos += len(line) + 1
            bullet = BULLET_RE.match(doc.text, s, e)
            if bullet and bullet.end() < e:
                s = bullet.end()
            if e > s:
                yield Block(s, e, part.heading, doc.kind_at(s), n)


def blocks(doc: Document) -> list[Block]:
    """Paragraphs and bullets of a document, each with its heading and kind."""
    return list(iter_blocks(doc))


def iter_blocks(doc: Document) -> Iterator[Block]:
    """`blocks`, one at a time."""
    if doc.parts:
        yield from _part_blocks(doc)
        return
    text = doc.text
    lines: list[tuple[int, int]] = []
    pos = 0
    for raw in text.split("\n"):
        lines.append((pos, pos + len(raw)))
        pos += len(raw) + 1
    heading = ""
    para: tuple[int, int] | None = None
    for i, (s, e) in enumerate(lines):
        line = text[s:e]
        next_line = text[lines[i + 1][0] : lines[i + 1][1]] if i + 1 < len(lines) else None
        blank = not line.strip()
        is_heading = not blank and _is_heading(line, next_line)
        bullet = None if blank or is_heading else BULLET_RE.match(line)
        if para is not None and (blank or is_heading or bullet):  # each ends a paragraph
            yield Block(para[0], para[1], heading, doc.kind_at(para[0]))
            para = None
        if blank:
            continue
        if is_heading:
            heading = line.strip().lstrip("#").strip()
            continue
        if bullet:
            yield Block(s + bullet.end(), e, heading, doc.kind_at(s))
            continue
        para = (s, e) if para is None else (para[0], e)
    if para is not None:
        yield Block(para[0], para[1], heading, doc.kind_at(para[0]))


def has_body(doc: Document) -> bool:
    """Whether `chunk_document` gives the document any chunk: some text besides headings (and bullet marks).
    A document of only a title or headings ("# Title") has none. Stops at the first block with a letter or
    digit (which always ends up in a sentence), splitting sentences only of a block with none."""
    return any(
        WORD_CHAR_RE.search(doc.text, b.start, b.end) or sentences(doc.text, b.start, b.end) for b in iter_blocks(doc)
    )


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


INITIALS_RE = re.compile(r"(?:[a-z]\.)+[a-z]")


def _is_abbreviation(text: str, dot: int) -> bool:
    word = re.search(r"([A-Za-z][A-Za-z.]*)$", text[max(0, dot - 12) : dot])
    if not word:
        return False
    token = word.group(1).lower().rstrip(".")
    # "U.S.", "U.K.", "p.m.": dotted initials end no sentence ("approved by the U.S. Food and Drug Administration")
    return token in ABBREVIATIONS or (len(token) == 1 and token.isalpha()) or bool(INITIALS_RE.fullmatch(token))


def sentences(text: str, start: int, end: int, *, max_len: int = 10_000) -> list[Span]:
    """Sentence spans of `text[start:end]`, trimmed of whitespace, each at most `max_len` long."""
    cuts = [start]
    region = text[start:end]
    for m in SENT_END_RE.finditer(region):
        if region[m.start()] == "." and _is_abbreviation(region, m.start()):
            continue
        cuts.append(start + m.end())
    for m in INLINE_BULLET_RE.finditer(region):
        cuts.append(start + m.start())
        cuts.append(start + m.end())
    cuts = sorted(set(cuts)) + [end]
    spans: list[Span] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        a, b = _strip_span(text, a, b)
        if b > a and INLINE_BULLET_RE.fullmatch(" " + text[a:b] + " ") is None:
            if text[a:b] in {"-", "*", "\u2022"}:
                continue
            spans.extend(_split_long(text, a, b, max_len))
    return spans


def _split_long(text: str, start: int, end: int, max_len: int) -> Iterator[Span]:
    while end - start > max_len:
        cut = text.rfind(" ", start + max_len // 2, start + max_len)
        cut = cut if cut > start else start + max_len
        a, b = _strip_span(text, start, cut)
        if b > a:
            yield Span(a, b)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield Span(start, end)


def quote_span(text: str, span: Span) -> Span:
    """The quotable part of a sentence of an answer-shaped source: its own trailing citation numbers
    ("… evidence 1.", "… 4, 5") are left out."""
    m = TRAILING_CITATION_RE.search(text, span.start, span.end)
    if m and m.end() == span.end and m.start() > span.start:
        return Span(span.start, m.start())
    return span


def content_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def embed_text(doc: Document, chunk: Chunk) -> str:
    """What gets embedded and BM25-indexed for a chunk: title and heading (its section path, and the
    section's name when its code gives one the path does not say) give context to the text."""
    head = doc.title if doc.title != doc.id else ""
    heading = chunk.heading
    name = section_name(chunk.code)
    if name and name.lower() not in heading.lower():
        heading = f"{name}: {heading}" if heading else name
    if heading and heading != head:
        head = f"{head}. {heading}" if head else heading
    return f"{head}\n{chunk.text}" if head else chunk.text


def chunk_document(doc: Document, *, size: int = 800, overlap: int = 1, first_id: int = 0) -> list[Chunk]:
    """Chunks of one document; ids count up from `first_id`."""
    groups: list[tuple[str, str, int, list[Span]]] = []
    for block in iter_blocks(doc):
        sents = sentences(doc.text, block.start, block.end, max_len=size)
        if doc.cites_inline:
            sents = [quote_span(doc.text, s) for s in sents]
        if not sents:
            continue
        if groups and groups[-1][0] == block.heading and groups[-1][1] == block.kind and groups[-1][2] == block.part:
            groups[-1][3].extend(sents)
        else:
            groups.append((block.heading, block.kind, block.part, list(sents)))

    chunks: list[Chunk] = []
    for heading, kind, part_no, sents in groups:
        part = doc.parts[part_no] if part_no >= 0 else None
        i = 0
        while i < len(sents):
            j = i + 1
            while j < len(sents) and sents[j].end - sents[i].start <= size:
                j += 1
            start, end = sents[i].start, sents[j - 1].end
            chunk = Chunk(
                id=first_id + len(chunks),
                doc_id=doc.id,
                start=start,
                end=end,
                text=doc.text[start:end],
                kind=kind,
                heading=heading,
                sentences=list(sents[i:j]),
                code=part.code if part is not None else None,
                page=part.page if part is not None else None,
            )
            chunk.hash = content_hash(embed_text(doc, chunk))
            chunks.append(chunk)
            if j >= len(sents):
                break
            back = min(overlap, j - i - 1)
            while back > 0 and sents[j - 1].end - sents[j - back].start > size // 2:
                back -= 1
            i = j - back
    return chunks
