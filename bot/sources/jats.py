"""PMC JATS full-text articles (`.nxml`, root `<article>`): one document per file, id = the file's id.

Text, in order: the abstract (heading "Abstract"; a structured abstract's `sec`s as sub-paths
`("Abstract", "Background")`; an author summary under its own title), then the body: each `sec` title a
heading line and a step of the path (`("Results", "Prevalence of infection")`; an all-lowercase title is
capitalised, a trailing colon dropped, section numbers never kept); every `<p>` and `list-item` one line;
text before the first section has path `()`. A table is its own part with path `(…section, "Table 1")`:
the caption (label and title) one line, then each body row one line, cells labelled by their column
headers ("Variable: Age; Cases: 34") when the table has a header row (several header rows are joined per
column, spans expanded), else joined with "; ", then its footnotes one line each. A figure is one line,
its label and caption, in a part with path `(…section, "Figure 1")`. Floating tables and figures
(`floats-group`) come after the body with path `("Table 1",)`.

Left out: the back matter (references, acknowledgements, footnotes, appendices), sections about the paper
rather than the science (competing interests, author contributions, funding, supplementary material…),
formulas shown as images, object ids. Numeric citation markers (`<xref ref-type="bibr">` holding no
letters: "12", "[12]") are dropped with the brackets, commas and dashes around them ("as reported
[12,13]." -> "as reported."); author-year citations ("(Smith et al. 2001)") read as text and are kept.

meta: origin "PMC", pmcid, pmid, doi, journal, journal_iso, year, authors (first three), article_type,
licence (URL, else text), licence_short ("CC BY 2.0"), copyright, entities. `date`: the publication year
(print, else electronic, else any pub-date).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..documents import Document
from .base import Context, CorpusError, TextBuilder, make_document
from .xml import local_name

SUFFIXES = {".nxml"}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
SKIP_ABSTRACT_TYPES = {"graphical", "teaser", "toc", "precis", "web-summary"}
SKIP_SEC_TYPES = {
    "supplementary-material", "coi-statement", "author-contributions", "funding", "ack", "acknowledgment",
    "acknowledgement", "data-availability", "financial-disclosure", "fn-group",
}  # fmt: skip
SKIP_SEC_TITLE_RE = re.compile(
    r"(competing|conflicts?|declarations?) of interests?|competing interests?|disclosures?|funding|"
    r"financial disclosures?|authors?'? ?contributions?|contributors|acknowledge?ments?|"
    r"supplementary (material|data|information)|supporting information|additional files?|"
    r"pre-?publication history|data availability( statement)?",
    re.IGNORECASE,
)
# Subtrees whose text is never part of a line; `p`/`list`/tables/figures are handled as blocks.
SKIP = {
    "fn", "disp-formula", "graphic", "media", "object-id", "supplementary-material", "alternatives-graphic",
    "inline-graphic", "ref-list", "table-wrap-foot", "attrib", "permissions",
}  # fmt: skip
BLOCKS = {"list", "def-list", "table-wrap", "table-wrap-group", "fig", "fig-group", "disp-quote", "boxed-text", "sec"}
_LETTER_RE = re.compile(r"[^\W\d_]")
CITE = "\ue000"  # stands for a dropped citation marker while the text is cleaned
GONE = "\ue001"  # where a run of markers was removed
_SEP = r"\s*(?:[,;\u2013\u2014-]|and)\s*"
_CITE_RUN_RE = re.compile(
    rf"\s*(?:\[\s*{CITE}(?:\s*\]?{_SEP}\[?\s*{CITE})*\s*\]"
    rf"|\(\s*{CITE}(?:\s*\)?{_SEP}\(?\s*{CITE})*\s*\)"
    rf"|{CITE}(?:{_SEP}{CITE})*)"
)
_GONE_FIXES = [
    (re.compile(rf"[,;]\s*{GONE}(?=\s*[)\]])"), ""),  # "(Smith 2001, [3])" -> "(Smith 2001)"
    (re.compile(rf"(?<=[(\[])\s*{GONE}\s*[,;]\s*"), ""),  # "([3]; Smith 2001)" -> "(Smith 2001)"
    (re.compile(rf"\(\s*{GONE}\s*\)|\[\s*{GONE}\s*\]"), ""),
    (re.compile(GONE), ""),
]
_LICENCES = [  # (pattern on the URL or text, short form); the version is taken from the URL
    (re.compile(r"publicdomain/zero|\bCC0\b", re.I), "CC0"),
    (re.compile(r"publicdomain/mark", re.I), "Public Domain Mark"),
    (re.compile(r"public domain", re.I), "Public Domain"),
    (re.compile(r"licenses/by-nc-nd|Attribution[- ]Non-?Commercial[- ]No ?Deriv", re.I), "CC BY-NC-ND"),
    (re.compile(r"licenses/by-nc-sa|Attribution[- ]Non-?Commercial[- ]Share ?Alike", re.I), "CC BY-NC-SA"),
    (re.compile(r"licenses/by-nc\b|Attribution[- ]Non-?Commercial", re.I), "CC BY-NC"),
    (re.compile(r"licenses/by-nd|Attribution[- ]No ?Deriv", re.I), "CC BY-ND"),
    (re.compile(r"licenses/by-sa|Attribution[- ]Share ?Alike", re.I), "CC BY-SA"),
    (re.compile(r"licenses/by\b|Creative Commons Attribution", re.I), "CC BY"),
]


def clean_citations(text: str) -> str:
    """Remove citation markers (`CITE`) with the brackets and separators they leave behind."""
    if CITE not in text:
        return " ".join(text.split())
    text = _CITE_RUN_RE.sub(GONE, text)
    for pattern, repl in _GONE_FIXES:
        text = pattern.sub(repl, text)
    return " ".join(text.split())


def _inline(node: Any, out: list[str]) -> None:
    name = local_name(node.tag)
    if name in SKIP:
        if name == "disp-formula":
            out.append(" ")
        return
    if name == "xref" and node.get("ref-type") == "bibr" and not _LETTER_RE.search("".join(node.itertext())):
        out.append(CITE)
        return
    if name in ("break", "hr", "p", "title"):
        out.append(" ")
    _children(node, out)
    if name in ("label", "p", "title"):
        out.append(" ")
    elif name == "term":
        out.append(": ")


def _children(node: Any, out: list[str]) -> None:
    if node.text:
        out.append(node.text)
    for child in node:
        _inline(child, out)
        if child.tail:
            out.append(child.tail)


def line_of(el: Any | None) -> str:
    """An element's text as one line, citation markers dropped (the element itself is never skipped)."""
    if el is None:
        return ""
    out: list[str] = []
    _children(el, out)
    return clean_citations("".join(out))


def sec_title(sec: Any) -> str:
    title = line_of(sec.find("title")).rstrip(":").strip()
    return title[:1].upper() + title[1:] if title.islower() else title


def _label(el: Any) -> str:
    return line_of(el.find("label")).rstrip(".:").strip()


@dataclass
class _Writer:
    """Walks the article's blocks into a `TextBuilder`, gathering a section's lines into parts."""

    tb: TextBuilder = field(default_factory=TextBuilder)
    lines: list[str] = field(default_factory=list)
    path: tuple[str, ...] = ()

    def flush(self) -> None:
        self.tb.paragraphs(self.lines, path=self.path)
        self.lines = []

    def section(self, title: str, path: tuple[str, ...], body: Any) -> None:
        self.flush()
        outer, self.path = self.path, path
        self.tb.heading(title)
        self.blocks(body)
        self.flush()
        self.path = outer

    def blocks(self, el: Any) -> None:
        for child in el:
            name = local_name(child.tag)
            if name in ("title", "label", "caption") or name in SKIP:
                continue  # titles and captions are read with their section, table or figure
            if name == "sec":
                title = sec_title(child)
                if (child.get("sec-type") or "").lower() in SKIP_SEC_TYPES or SKIP_SEC_TITLE_RE.fullmatch(title):
                    continue
                self.section(title, self.path + (title,) if title else self.path, child)
            elif name in ("list", "def-list"):
                for item in child:
                    if local_name(item.tag) in ("list-item", "def-item"):
                        self.paragraph(item)
            elif name in ("disp-quote", "boxed-text", "statement", "fig-group", "table-wrap-group"):
                self.blocks(child)
            elif name == "table-wrap":
                self.table(child)
            elif name == "fig":
                self.figure(child)
            else:  # p, list-item and anything else holding text
                self.paragraph(child)

    def paragraph(self, p: Any) -> None:
        """Inline text is one line; blocks inside it (lists, tables, figures) are handled in order."""
        out: list[str] = [p.text or ""]
        for child in p:
            if local_name(child.tag) in BLOCKS:
                self.lines.append(clean_citations("".join(out)))
                out = []
                self.blocks([child])
            else:
                _inline(child, out)
            out.append(child.tail or "")
        self.lines.append(clean_citations("".join(out)))
        self.lines = [ln for ln in self.lines if ln]

    def _float(self, el: Any, lines: list[str]) -> None:
        label = _label(el)
        self.flush()
        self.tb.paragraphs(lines, path=self.path + ((label,) if label else ()))

    def figure(self, fig: Any) -> None:
        caption = " ".join(x for x in (_label(fig), line_of(fig.find("caption"))) if x)
        if caption:
            self._float(fig, [caption])

    def table(self, wrap: Any) -> None:
        caption = " ".join(x for x in (_label(wrap), line_of(wrap.find("caption"))) if x)
        lines = [caption] + table_rows(wrap.find(".//table"))
        foot = wrap.find("table-wrap-foot")
        if foot is not None:
            notes = list(foot.iter("fn")) or list(foot.iter("p"))
            lines += [line_of(el) for el in notes]
        self._float(wrap, lines)


def _span(cell: Any, attr: str) -> int:
    value = cell.get(attr) or "1"
    return max(1, min(int(value), 100)) if value.isdigit() else 1


def _grid(rows: list[Any], *, header: bool) -> list[list[str]]:
    """Rows of cell texts, column and row spans expanded: a spanned header cell repeats (it labels every
    column under it); a spanned body cell is empty after its first column and below its first row."""
    grid: list[list[str]] = []
    pending: set[tuple[int, int]] = set()
    for r, row in enumerate(rows):
        cells: list[str] = []
        for cell in row:
            if local_name(cell.tag) not in ("td", "th"):
                continue
            while (r, len(cells)) in pending:
                cells.append("")
            text, span = line_of(cell), _span(cell, "colspan")
            pending.update(
                (r + d, c) for d in range(1, _span(cell, "rowspan")) for c in range(len(cells), len(cells) + span)
            )
            cells += [text] * span if header else [text] + [""] * (span - 1)
        while (r, len(cells)) in pending:
            cells.append("")
        grid.append(cells)
    return grid


def table_rows(table: Any | None) -> list[str]:
    if table is None:
        return []
    head = _grid(table.findall("thead/tr"), header=True)
    body = _grid(table.findall("tbody/tr") or table.findall("tr"), header=False)
    columns: list[str] = []
    for row in head:
        for c, text in enumerate(row):
            while len(columns) <= c:
                columns.append("")
            if text and not columns[c].endswith(text):
                columns[c] = f"{columns[c]} {text}".strip()
    out = []
    for row in body:
        filled = [(c, t) for c, t in enumerate(row) if t]
        if len(filled) == 1 and filled[0][0] == 0:
            out.append(filled[0][1])  # a row label alone: a group of the rows below
        elif columns and any(columns):
            out.append("; ".join(f"{columns[c]}: {t}" if c < len(columns) and columns[c] else t for c, t in filled))
        else:
            out.append("; ".join(t for _, t in filled))
    return [ln for ln in out if ln]


def _id(meta: Any, kind: str) -> str | None:
    for el in meta.findall("article-id"):
        if el.get("pub-id-type") == kind and (el.text or "").strip():
            return str(el.text).strip()
    return None


def _year(meta: Any) -> str | None:
    dates: dict[str, str] = {}
    for el in meta.findall("pub-date"):
        kind = el.get("pub-type") or {"print": "ppub", "electronic": "epub"}.get(el.get("publication-format") or "")
        dates.setdefault(kind or "other", (el.findtext("year") or "").strip())
    preferred = [dates.get(k, "") for k in ("ppub", "epub", "collection")] + list(dates.values())
    return next((y for y in preferred if y), None)


def _authors(meta: Any) -> list[str]:
    out = []
    for name in meta.findall("contrib-group/contrib[@contrib-type='author']/name")[:3]:
        initials = "".join(part[0] for part in (name.findtext("given-names") or "").replace("-", " ").split())
        out.append(f"{(name.findtext('surname') or '').strip()} {initials}".strip())
    return out


def _journal_abbrev(journal: Any | None) -> str | None:
    if journal is None:
        return None
    ids = {e.get("journal-id-type"): (e.text or "").strip() for e in journal.iter("journal-id")}
    return ids.get("iso-abbrev") or ids.get("nlm-ta") or None


def _copyright(meta: Any) -> str:
    return line_of(meta.find("permissions/copyright-statement")) or line_of(meta.find("copyright-statement"))


def licence_of(meta: Any) -> tuple[str | None, str | None]:
    """(the licence's URL or text, its short form) from `permissions`; a copyright statement that grants
    a licence counts when there is no `license`."""
    perm = meta.find("permissions")
    lic = perm.find("license") if perm is not None else None
    text = line_of(lic) if lic is not None else ""
    url = lic.get(XLINK_HREF) if lic is not None else None
    if lic is not None and not url:
        url = next((el.get(XLINK_HREF) for el in lic.iter("ext-link") if el.get(XLINK_HREF)), None)
    if lic is None:
        statement = _copyright(meta)
        if re.search(r"licen[cs]e|creative commons|public domain", statement, re.I):
            text = statement
    value = url or text or None
    if not value:
        return None, None
    for pattern, short in _LICENCES:
        if pattern.search(url or "") or (not url and pattern.search(text)):
            version = re.search(r"/(\d\.\d)", url or "")
            return value, f"{short} {version.group(1)}" if version else short
    return value, None


def from_root(root: Any, ctx: Context) -> Iterable[Document]:
    front = root.find("front/article-meta")
    if front is None:
        front = root.find("front")
    if front is None:
        raise CorpusError("JATS article without front matter (article-meta)")
    w = _Writer()
    for abstract in front.findall("abstract"):
        kind = (abstract.get("abstract-type") or "").lower()
        if kind in SKIP_ABSTRACT_TYPES:
            continue
        title = sec_title(abstract) or ("Abstract" if not kind else kind.replace("-", " ").capitalize())
        w.section(title, (title,), abstract)
    body = root.find("body")
    if body is not None:
        w.blocks(body)
        w.flush()
    floats = root.find("floats-group")
    if floats is not None:
        w.blocks(floats)
        w.flush()
    text, parts = w.tb.finish()
    if not text.strip():
        raise CorpusError("JATS article has no abstract or body text")
    pmcid = _id(front, "pmc") or _id(front, "pmcid")
    if pmcid and not pmcid.upper().startswith("PMC"):
        pmcid = f"PMC{pmcid}"
    doi = _id(front, "doi")
    year = _year(front)
    article_type = root.get("article-type") or None
    licence, short = licence_of(front)
    journal = root.find("front/journal-meta")
    meta: dict[str, Any] = {
        "origin": "PMC",
        "pmcid": pmcid,
        "pmid": _id(front, "pmid"),
        "doi": doi,
        "journal": (line_of(journal.find(".//journal-title")) or None) if journal is not None else None,
        "journal_iso": _journal_abbrev(journal),
        "year": year,
        "authors": _authors(front),
        "article_type": article_type,
        "licence": licence,
        "licence_short": short,
        "copyright": _copyright(front) or None,
        "entities": [],
    }
    url = f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/" if pmcid else f"https://doi.org/{doi}" if doi else None
    return [
        make_document(
            ctx.doc_id,
            text,
            title=line_of(front.find("title-group/article-title")) or None,
            kind="guideline" if article_type == "practice-guideline" else "research",
            url=url,
            date=year,
            source=str(ctx.path),
            parts=parts,
            meta=meta,
        )
    ]
