"""FDA Structured Product Labeling (HL7 v3 SPL XML), and DailyMed download zips holding one.

One label is one `drug_label` document. Its title is the product ("HUMIRA (adalimumab)": the brand as the
title's product line prints it, less ®/™, and the generic in parentheses), never the Highlights
boilerplate; a label whose title has no product line (no title, "Drug Facts") is named from its product
data elements (manufacturedProduct name + genericMedicine name; one name when they are the same).

Outline: every `<section>` with its `<title>` is a heading (outside every part) and its `<text>` one part;
subsections nest. `Part.path` holds the titles from the outermost section down, the top-level one without
its number ("WARNINGS AND PRECAUTIONS", "5.1 Serious Infections"); an untitled section takes its parent's
path (top-level: the LOINC name of its code). A leaf subsection with a title but no text (Lipitor's
"4.1 Active liver disease, …") is content: its title, number dropped, is a line of its parent's part.

Codes (`Part.code`): a top-level section's code is the one its title names when it names a known section
(`bot.sections`: LOINC names and aliases, case-insensitive, "&" = "and"; Drug Facts headings such as "Ask a
doctor before use if the child has" by their first words), else its own code (42229-5 included). A
subsection's parts carry its top-level section's code, because labels code subsections as "unclassified"
or wrongly (haloperidol's dosage tables are coded Boxed Warning) -- except Drug Facts subsections ("Do not
use" under "Warnings"): the innermost Drug Facts code, named by title or own code, applies to its subtree.

Text: each `<paragraph>` and list `<item>` one line; a table's caption one line, then one line per body row
with each cell labelled by its column header ("Adverse Reaction: Sinusitis; Placebo (N=690): 9%"), or the
cells joined with "; " when the table has no header row; a row with a single filled cell (a group label)
is a line of its own. Footnotes are lines at the end of their section's part. Inline markup (`<content>`,
`<sup>`, `<linkHtml>`) is read in order, `<br/>` as a space.

Kept: each section's Highlights `<excerpt>` (the label's own summary: "Plaque Psoriasis: 80 mg initial
dose, followed by 40 mg every other week…"), as a part with path (section, "Highlights") before the
section's full text; its "See full prescribing information…" pointers are left out.
Left out: the product data elements section
(48780-1), package label / principal display panel / carton sections (51945-4, or titled so), "CONTENTS"
(table of contents) sections, images (`<renderMultiMedia>`, `<observationMedia>`). Patient package inserts
and medication guides (42230-3, 42231-1) are kept: they are label text.

DailyMed zips are read in memory, never extracted: members with absolute or `..` paths, more than
`MAX_ZIP_MEMBERS` members, a member over `MAX_MEMBER_BYTES` (by its header and while reading) or with a
compression ratio over `MAX_RATIO` refuse the whole zip.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from ..documents import Document
from ..query import NOT_ENTITIES
from ..sections import DRUG_FACTS_CODES, LOINC_SECTIONS, NOT_INDEXED, SECTION_ALIASES, section_name
from .base import Context, CorpusError, TextBuilder, make_document
from .xml import local_name, parse, text_of

ZIP_SUFFIXES = {".zip"}
MAX_ZIP_MEMBERS = 1000
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed size of a member above 1 MiB
DAILYMED_URL = "https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid={}"
SKIP = frozenset({"footnote", "renderMultiMedia", "observationMedia"})
BLOCKS = frozenset({"paragraph", "item", "list", "table", "tr", "td", "th", "caption", "br"})
SKIP_TITLE_RE = re.compile(
    r"principal display panel|package label|\bcarton\b|^\W*(?:full prescribing information\W*)?contents\b", re.I
)
NUMBER_RE = re.compile(r"^\s*\d+(?:\.\d+)*\.?\s+(?=\S)")
BOILERPLATE_RE = re.compile(
    r"these highlights do not include[^.]*(?:\.|$)|see full prescribing information for[^.]*(?:\.|$)"
    r"|initial u\.?\s?s\.? approval\W*\d*|\brx only\b",
    re.I,
)
# Highlights lines that point elsewhere instead of saying something.
HIGHLIGHT_SKIP_RE = re.compile(r"see full prescribing information|see 17 for patient counseling", re.I)
PRODUCT_LINE_RE = re.compile(r"^(?P<brand>[^()]+?)\s*\((?P<generic>[^()]+)\)")


def _norm(title: str) -> str:
    title = NUMBER_RE.sub("", title.lower().replace("&", " and "))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", title).split())


_EXACT = {_norm(name): code for code, name in LOINC_SECTIONS.items() if code not in NOT_INDEXED}
_EXACT.update(SECTION_ALIASES)
_PREFIX = sorted(
    ((name, code) for name, code in SECTION_ALIASES.items() if code in DRUG_FACTS_CODES | {"34067-9", "34068-7"}),
    key=lambda item: -len(item[0]),
)


def title_code(title: str | None, *, drug_facts_only: bool = False) -> str | None:
    """The LOINC code a section title names ("5 WARNINGS AND PRECAUTIONS" -> 43685-7), or None."""
    name = _norm(title or "")
    if not name:
        return None
    code = _EXACT.get(name)
    if code and (not drug_facts_only or code in DRUG_FACTS_CODES):
        return code
    for prefix, code in _PREFIX:
        if (name == prefix or name.startswith(prefix + " ")) and (not drug_facts_only or code in DRUG_FACTS_CODES):
            return code
    return None


def _kids(el: Any, name: str) -> list[Any]:
    return [c for c in el if local_name(c.tag) == name]


def _kid(el: Any, *names: str) -> Any:
    for name in names:
        found = _kids(el, name) if el is not None else []
        el = found[0] if found else None
    return el


def _attr(el: Any, name: str, attr: str) -> str | None:
    """An attribute of `el`'s first child `name` ("<code code=…>"), or None."""
    child = _kid(el, name)
    value = child.get(attr) if child is not None else None
    return str(value).strip() or None if value is not None else None


def inline(el: Any, *, skip: frozenset[str] = SKIP) -> str:
    """The text of an element in reading order, `<br/>` and block elements as spaces."""
    return text_of(el, skip=skip, spaced=BLOCKS)


def _span(cell: Any) -> int:
    value = str(cell.get("colspan") or "1")
    return min(int(value), 50) if value.isdigit() and int(value) > 0 else 1


def _grid(rows: list[Any]) -> list[tuple[list[str], bool]]:
    """Rows as lists of cell texts, colspans repeated so columns line up; and whether all cells are <th>."""
    out = []
    for row in rows:
        cells = [c for c in row if local_name(c.tag) in ("td", "th")]
        texts = [inline(c) for c in cells for _ in range(_span(c))]
        out.append((texts, bool(cells) and all(local_name(c.tag) == "th" for c in cells)))
    return out


def _is_header(cells: list[str], all_th: bool) -> bool:
    filled = [c for c in cells if c]
    return all_th or (len(cells) >= 2 and not cells[0] and bool(filled))


def table_lines(table: Any) -> list[str]:
    lines = [inline(c) for c in _kids(table, "caption")]
    head = [r for part in _kids(table, "thead") for r in _kids(part, "tr")]
    body = [r for part in _kids(table, "tbody") for r in _kids(part, "tr")] + _kids(table, "tr")
    foot = [r for part in _kids(table, "tfoot") for r in _kids(part, "tr")]
    rows = _grid(body)
    header_rows = [cells for cells, _ in _grid(head)]
    if not header_rows:
        while rows and _is_header(*rows[0]):
            header_rows.append(rows.pop(0)[0])
    width = max((len(r) for r in header_rows), default=0)
    headers = [" ".join(r[i] for r in header_rows if i < len(r) and r[i]) for i in range(width)]
    first = True
    for cells, _ in rows:
        filled = [c for c in cells if c]
        if not filled:
            continue
        if len(filled) == 1 and cells[0] and len(cells) > 1:
            if first and headers and not headers[0]:
                headers[0] = cells[0]  # "Adverse Reaction (Preferred Term)" under an empty corner cell
            else:
                lines.append(cells[0])
            first = False
            continue
        first = False
        if headers:
            labelled = [f"{headers[i]}: {c}" if i < len(headers) and headers[i] else c for i, c in enumerate(cells)]
            lines.append("; ".join(dict.fromkeys(x for x, c in zip(labelled, cells, strict=True) if c)))
        else:
            lines.append("; ".join(filled))
    lines += [inline(r) for r in foot]
    return [ln for ln in lines if ln]


def block_lines(el: Any) -> list[str]:
    """One line per paragraph, list item, table row (and caption) inside `el`, in order."""
    lines: list[str] = []
    stray: list[str] = [el.text or ""]

    def flush() -> None:
        text = " ".join(" ".join(stray).split())
        if text:
            lines.append(text)
        stray.clear()

    for child in el:
        name = local_name(child.tag)
        if name in ("paragraph", "list", "table", "text", "section"):
            flush()
            lines += element_lines(child)
        elif name not in SKIP:
            stray.append(inline(child))
        stray.append(child.tail or "")
    flush()
    return [ln for ln in (" ".join(x.split()) for x in lines) if ln]


def element_lines(el: Any) -> list[str]:
    name = local_name(el.tag)
    if name == "table":
        return table_lines(el)
    if name == "list":
        lines = [inline(c) for c in _kids(el, "caption")]
        for item in _kids(el, "item"):
            lines.append(inline(item, skip=SKIP | {"list", "table", "caption"}))
            lines += [ln for sub in item if local_name(sub.tag) in ("list", "table") for ln in element_lines(sub)]
        return lines
    if name == "paragraph" and not any(local_name(c.tag) in ("list", "table") for c in el):
        return [inline(el)]
    return block_lines(el)


def add_section(tb: TextBuilder, sec: Any, path: tuple[str, ...], code: str | None, *, top: bool) -> None:
    """Append a `<section>` (heading, its text as a part, then its subsections) with the code rules above."""
    own = _attr(sec, "code", "code")
    title = inline(_kid(sec, "title")) if _kid(sec, "title") is not None else ""
    if own in NOT_INDEXED or (title and SKIP_TITLE_RE.search(title)):
        return
    if top:
        code = title_code(title) or own or None
        name = NUMBER_RE.sub("", title) if title else (section_name(code) or "")
        path = (name,) if name else ()
        tb.heading(title or name)
        highlights = [
            ln
            for ex in _kids(sec, "excerpt")
            for hl in _kids(ex, "highlight")
            for t in _kids(hl, "text")
            for ln in block_lines(t)
            if not HIGHLIGHT_SKIP_RE.search(ln)
        ]
        if highlights and code != "43683-2":  # a section's Highlights summary; not the recent-changes list
            tb.heading("Highlights")
            tb.paragraphs(highlights, path=(*path, "Highlights"), code=code)
    else:
        named = title_code(title, drug_facts_only=True)
        code = named or (own if own in DRUG_FACTS_CODES else code)
        text = _kid(sec, "text")
        if title and not _kids(sec, "component") and (text is None or not block_lines(text)):
            tb.paragraphs([NUMBER_RE.sub("", title)], path=path, code=code)
            return
        if title:
            path = (*path, title)
            tb.heading(title)
    text = _kid(sec, "text")
    if text is not None:
        lines = block_lines(text) + [text_of(f) for f in text.iter() if local_name(f.tag) == "footnote"]
        tb.paragraphs(lines, path=path, code=code)
    for comp in _kids(sec, "component"):
        for sub in _kids(comp, "section"):
            add_section(tb, sub, path, code, top=False)


def iso_date(value: str | None) -> str | None:
    m = re.match(r"^(\d{4})(\d{2})(\d{2})", value or "")
    return f"{m[1]}-{m[2]}-{m[3]}" if m else None


def entities(brands: Iterable[str], generics: Iterable[str]) -> list[str]:
    """Lower-cased names and their single significant words: ["lipitor", "atorvastatin calcium", "atorvastatin"]."""
    out: list[str] = []
    for brand in brands:
        name = " ".join(brand.lower().replace("®", " ").replace("™", " ").split())
        out += [name, name.split()[0]] if name else []
    for generic in generics:
        for one in re.split(r",|;|\band\b", generic.lower()):
            one = " ".join(one.split())
            words = [w for w in re.findall(r"[a-z][a-z0-9-]+", one) if len(w) > 3 and w not in NOT_ENTITIES]
            out += ([one] if one else []) + words
    return [e for e in dict.fromkeys(out) if e and e not in NOT_ENTITIES]


def label_title(brand: str | None, generic: str | None) -> str | None:
    if not brand:
        return generic
    brand = " ".join(brand.replace("®", "").replace("™", "").split())
    if not generic or generic.lower() == brand.lower():
        return brand
    return f"{brand} ({generic})"


def _title_lines(el: Any) -> list[str]:
    """The document title's lines (split at `<br/>`), Highlights boilerplate removed."""
    out: list[str] = []

    def walk(node: Any) -> None:
        out.append("\n" if local_name(node.tag) == "br" else node.text or "")
        for child in node:
            walk(child)
            out.append(child.tail or "")

    if el is not None:
        walk(el)
    lines = "".join(out).split("\n")
    return [t for t in (" ".join(BOILERPLATE_RE.sub(" ", ln).split()) for ln in lines) if t]


def _products(root: Any) -> list[tuple[str, str | None]]:
    out = []
    for sec in root.iter():
        if local_name(sec.tag) != "section" or (
            _kid(sec, "code") is None or _kid(sec, "code").get("code") != "48780-1"
        ):
            continue
        for subject in _kids(sec, "subject"):
            product = _kid(subject, "manufacturedProduct", "manufacturedProduct")
            name = _kid(product, "name")
            if name is None:
                continue
            brand = " ".join(" ".join(t for t in name.itertext()).split())
            generic = _kid(product, "asEntityWithGeneric", "genericMedicine", "name")
            out.append((brand, inline(generic) if generic is not None else None))
    return out


def from_root(root: Any, ctx: Context) -> list[Document]:
    """One SPL `<document>` as one `drug_label` document."""
    body = _kid(root, "component", "structuredBody")
    tb = TextBuilder()
    for comp in _kids(body, "component") if body is not None else []:
        for sec in _kids(comp, "section"):
            add_section(tb, sec, (), None, top=True)
    text, parts = tb.finish()
    if not parts:
        raise CorpusError("SPL label with no section text")
    products = _products(root)
    brands = list(dict.fromkeys(b for b, _ in products if b))
    generics = list(dict.fromkeys(g for _, g in products if g))
    line = next((m for m in (PRODUCT_LINE_RE.match(t) for t in _title_lines(_kid(root, "title"))) if m), None)
    if line:
        title = label_title(line["brand"], " ".join(line["generic"].split()))
    else:
        title = label_title(brands[0] if brands else None, generics[0] if generics else None)
    set_id = _attr(root, "setId", "root")
    version = _attr(root, "versionNumber", "value")
    date = iso_date(_attr(root, "effectiveTime", "value"))
    doc_code = _kid(root, "code")
    labeler = _kid(root, "author", "assignedEntity", "representedOrganization", "name")
    meta = {
        "origin": "FDA label",
        "set_id": set_id,
        "version": version,
        "effective_date": date,
        "document_type": doc_code.get("displayName") if doc_code is not None else None,
        "labeler": inline(labeler) if labeler is not None else None,
        "products": brands,
        "generics": generics,
        "entities": entities(
            brands + ([line["brand"]] if line else []), generics + ([line["generic"]] if line else [])
        ),
    }
    doc = make_document(
        ctx.doc_id,
        text,
        title=title,
        kind="drug_label",
        url=DAILYMED_URL.format(set_id) if set_id else None,
        date=date,
        source=str(ctx.path),
        parts=parts,
        meta=meta,
    )
    return [doc]


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 and n % 2**20 == 0 else f"{n} bytes"


def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/"):
        raise CorpusError(f"zip member path outside the folder: {info.filename!r}")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, refusing more than `MAX_MEMBER_BYTES` by its header or while reading, and zip bombs."""
    limit = MAX_MEMBER_BYTES
    if info.file_size > limit:
        raise CorpusError(f"zip member {info.filename} larger than {_size(limit)}")
    if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        raise CorpusError(f"zip member {info.filename} compressed {ratio}:1 (zip bomb): refused")
    chunks: list[bytes] = []
    total = 0
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    raise CorpusError(f"zip member {info.filename} larger than {_size(limit)}")
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise CorpusError(f"zip member {info.filename} unreadable: {str(exc).splitlines()[0]}") from None
    return b"".join(chunks)


def load_zip(ctx: Context) -> Iterable[Document]:
    """The SPL label(s) of a DailyMed download zip, read in memory (never extracted)."""
    try:
        zf = zipfile.ZipFile(ctx.path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise CorpusError(f"not a readable zip file ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise CorpusError(f"zip with {len(infos)} members (more than {MAX_ZIP_MEMBERS}): refused")
        for info in infos:
            _check_member(info)
        xmls = [i for i in infos if not i.is_dir() and i.filename.lower().endswith(".xml")]
        if not xmls:
            raise CorpusError("zip holds no .xml label")
        docs: list[Document] = []
        for n, info in enumerate(xmls):
            root = parse(_read_member(zf, info))
            if local_name(root.tag) != "document":
                raise CorpusError(f"zip member {info.filename} is not an SPL label (root <{local_name(root.tag)}>)")
            doc_id = ctx.doc_id if n == 0 else f"{ctx.doc_id}/{PurePosixPath(info.filename).stem}"
            sub = Context(ctx.path, doc_id, ctx.default_kind, ctx.problems)
            docs += from_root(root, sub)
        return docs
