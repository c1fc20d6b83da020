"""PDF files: the text layer (pypdf), rebuilt into paragraphs in reading order with the page as locator.

Each page's text runs (with position, font size and weight, from pypdf's text visitor; where each run
ends is measured by following the text operators, `pdflayout._TextState`) are grouped into lines, put
in reading order (a recursive XY cut: segments of one column layout top to bottom, in each its columns
left to right: two columns, three, a table's), stripped of running heads/footers and page numbers, and
joined into paragraphs, one line each, with end-of-line hyphenation undone by the document's own words
(`pdflayout.join_lines`) and list bullets written "•". A short paragraph in a bigger or bold font that
does not read like a sentence is a heading: it goes on its own line outside every part and names the
parts after it (`path` is (section,) or (section, subsection) when a bigger-font heading is followed by
body-size bold ones).

A part holds the paragraphs of one page under one heading, `page` = the 1-based page number. A paragraph
that runs on into the next column or page (no full stop, next line not indented) is kept whole, on the
page where it starts.

`meta["origin"]` (the reference's source) is the publisher: the Author in the PDF's metadata, else its
XMP creator, else the organisation of a copyright notice on the first pages ("© World Health
Organization 2016"), else "PDF" (see `_origin`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..documents import Document
from . import pdflayout as lay
from .base import Context, CorpusError, TextBuilder, make_document

SUFFIXES = {".pdf"}
MAX_TITLE = 300
_JUNK_TITLE = re.compile(r"^(untitled|microsoft word|document\d*|.*\.(docx?|indd|pdf|qxd))\b", re.IGNORECASE)


def _open(ctx: Context) -> Any:
    from pypdf import PdfReader  # noqa: PLC0415

    try:
        reader = PdfReader(str(ctx.path))
        if reader.is_encrypted:
            try:
                ok = bool(reader.decrypt(""))
            except Exception:
                ok = False
            if not ok:
                raise CorpusError("encrypted PDF (needs a password): cannot read its text")
        _ = len(reader.pages)
    except CorpusError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        raise CorpusError(f"unreadable PDF: {_one_line(exc)}") from None
    return reader


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _metadata(reader: Any) -> dict[str, str]:
    try:
        meta = reader.metadata or {}
        return {str(k).lstrip("/"): str(v) for k, v in meta.items() if v is not None}
    except Exception:
        return {}


# The publisher a copyright notice names: "© World Health Organization 2016", "© 2019 Elsevier Ltd.".
COPYRIGHT_RE = re.compile(
    r"(?:©|\((?i:c)\)|\b(?i:copyright)\b)\s*(?:\d{4}\s*,?\s*)?(?:by\s+)?"
    r"(?P<org>[A-Z][\w&.,’' -]{2,80}?)\s*(?:,?\s*\d{4}\b|[.;]|$)"
)
SOFTWARE_RE = re.compile(r"adobe|indesign|acrobat|microsoft|word|latex|tex\b|quark|pdf|distiller|writer", re.I)


def _origin(meta: dict[str, str], xmp: list[str], first_pages: list[list[lay.Line]]) -> str:
    """Who published the PDF, for its reference: the metadata's Author, else the XMP creator (software
    names such as "Adobe InDesign" aside), else the organisation a copyright notice on its first pages
    names ("© World Health Organization 2016"), else "PDF"."""
    for name in (meta.get("Author"), *xmp):
        name = _meaningful_title(name)
        if name and not SOFTWARE_RE.search(name):
            return name
    for lines in first_pages:
        for ln in lines:
            m = COPYRIGHT_RE.search(ln.text)
            org = m.group("org").strip(" ,.") if m else ""
            if len(org) > 3 and not re.match(r"(the )?authors?\b|all rights", org, re.I):
                return org
    return "PDF"


def _xmp_creators(reader: Any) -> list[str]:
    try:
        xmp = reader.xmp_metadata
        return [str(x) for x in (xmp.dc_publisher or []) + (xmp.dc_creator or [])] if xmp is not None else []
    except Exception:
        return []


def _meaningful_title(title: str | None) -> str | None:
    title = " ".join((title or "").split())
    if len(title) < 4 or len(title) > MAX_TITLE or _JUNK_TITLE.match(title) or not re.search(r"[a-z]", title):
        return None
    return title


def _body_size(pages: list[list[lay.Line]]) -> float:
    """The font size most of the text is set in."""
    sizes: Counter[float] = Counter()
    for lines in pages:
        for ln in lines:
            sizes[ln.size] += len(ln.text)
    return sizes.most_common(1)[0][0]


def _first_page_title(lines: list[lay.Line], body: float) -> str | None:
    """The largest-font text of page 1 (bigger than the body text), its lines joined."""
    lines = [ln for ln in lines if any(c.isalpha() for c in ln.text)]
    if not lines:
        return None
    biggest = max(ln.size for ln in lines)
    if biggest < body + 0.5:
        return None  # no bigger text to tell a title by
    title = " ".join(ln.text for ln in sorted(lines, key=lambda ln: -ln.y) if ln.size >= biggest - 0.5)
    return _meaningful_title(title)


def _extract(reader: Any) -> tuple[list[list[lay.Line]], list[float], list[float]]:
    widths = lay._Widths()
    pages: list[list[lay.Line]] = []
    tops: list[float] = []
    bottoms: list[float] = []
    for page in reader.pages:
        box = page.mediabox
        left, bottom, right, top = (float(v) for v in (box.left, box.bottom, box.right, box.top))
        lines = lay.make_lines(lay.page_runs(page, widths))
        pages.append(lay.reading_order(lines, left, right))
        tops.append(top)
        bottoms.append(bottom)
    return pages, tops, bottoms


# Reference lists are citations, not guidance: their headings are kept, their entries are not indexed.
REFERENCES_RE = re.compile(r"^\s*(references|bibliography|works cited|literature cited)\s*$", re.I)


def _build(pages: list[list[lay.Line]]) -> tuple[str, list[Any]]:
    body = _body_size(pages)
    vocab = lay.vocabulary([ln.text for lines in pages for ln in lines])
    paras: list[lay.Para] = []
    for number, lines in enumerate(pages, 1):
        page_paras = lay.paragraphs(lines, number, vocab, body)
        follow = next((i for i, p in enumerate(page_paras) if p.text[:1].islower()), None)
        if follow is not None and paras and _continues(paras[-1], page_paras[follow]):
            paras[-1].text = lay.join_lines(paras[-1].text, page_paras.pop(follow).text, vocab)
        paras += page_paras
    tb = TextBuilder()
    path: tuple[str, ...] = ()
    section_size = 0.0
    pending: list[str] = []
    pending_page = 0

    def flush() -> None:
        nonlocal pending
        if pending and not any(REFERENCES_RE.match(p) for p in path):
            tb.paragraphs(pending, path=path, page=pending_page)
        pending = []

    for para in paras:
        if lay.is_heading(para, body):
            flush()
            tb.heading(lay.tidy(para.text))
            if para.size > body + 0.6 or not path:
                path, section_size = (para.text,), para.size
            elif para.size < section_size - 0.6:
                path = (path[0], para.text)
            else:
                path = (para.text,)
            continue
        if para.page != pending_page:
            flush()
            pending_page = para.page
        pending.append(lay.tidy(para.text))
    flush()
    return tb.finish()


def _continues(last: lay.Para, first: lay.Para) -> bool:
    """Does a paragraph of a page (the first one starting in lower case, boxes and figures may come
    before it) carry on the unfinished last one of the page before?"""
    return (
        abs(last.size - first.size) <= 0.6
        and last.bold == first.bold
        and last.text[-1:] not in ".:;?!"
        and last.lines >= 2
    )


def load(ctx: Context) -> list[Document]:
    reader = _open(ctx)
    try:
        pages, tops, bottoms = _extract(reader)
    except CorpusError:
        raise
    except Exception as exc:
        raise CorpusError(f"unreadable PDF: {_one_line(exc)}") from None
    if not any(pages):
        raise CorpusError("PDF has no text layer")
    first_pages = pages[:4]  # as printed: a copyright footer is furniture, but names the publisher
    pages = lay.drop_furniture(pages, tops, bottoms, _body_size(pages))
    text, parts = _build(pages)
    if not parts:
        raise CorpusError("PDF has no text layer")
    meta = _metadata(reader)
    title = _meaningful_title(meta.get("Title")) or _first_page_title(first_pages[0], _body_size(pages))
    year = re.match(r"(?:D:)?(\d{4})", meta.get("CreationDate", ""))
    origin = _origin(meta, _xmp_creators(reader), first_pages)
    doc_meta = {"origin": origin, "pages": len(pages), "entities": []}
    return [
        make_document(
            ctx.doc_id,
            text,
            title=title,
            kind=ctx.default_kind,
            date=year.group(1) if year else None,
            source=str(ctx.path),
            parts=parts,
            meta=doc_meta,
        )
    ]
