"""PubMed XML (`PubmedArticleSet`, one or thousands of articles a file, optionally gzipped): efetch output
and the MEDLINE/PubMed baseline and update files.

One document per `PubmedArticle`, id `pubmed/<PMID>`, kind `research` (`guideline` when a publication type
is "Practice Guideline" or "Guideline"). The text is the abstract, kept as published (inline markup
flattened; the line breaks and indentation efetch puts before `<sub>`/`<sup>` are dropped, so "β₂" reads
"β2", not "β 2"):

- a structured abstract gives each labelled `AbstractText` its label as a heading line and its text as a
  part with path `(label,)` ("BACKGROUND", "METHODS", …, as the record spells them);
- an unlabelled abstract is one part with path `()`: the whole document is the abstract, and the title is
  indexed with it anyway. Unlabelled paragraphs after a labelled one stay under that label.

`date` is the publication year (`PubDate/Year`, else the first four digits of `MedlineDate`, else the
`ArticleDate` year): the year is what a citation shows, and older records have no complete date.

A record without PMID, title or abstract is reported with `ctx.problem` (one line naming the file and
PMID) and skipped; the other records of the file are read. Each record is parsed with direct child
lookups (no document-wide searches), a few hundred microseconds per article.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..documents import Document
from .base import Context, CorpusError, TextBuilder, make_document
from .xml import local_name, text_of

GUIDELINE_TYPES = {"practice guideline", "guideline"}
MAX_AUTHORS = 3
_YEAR_RE = re.compile(r"\b(\d{4})\b")


@dataclass
class _Abstract:
    """The abstract's paragraphs grouped under their labels, in order."""

    sections: list[tuple[str, list[str]]] = field(default_factory=list)

    def add(self, label: str, text: str) -> None:
        if self.sections and (not label or self.sections[-1][0] == label):
            self.sections[-1][1].append(text)
        else:
            self.sections.append((label, [text]))


def _trim(s: str) -> str:
    kept = s.rstrip(" \t\r\n")
    return kept if "\n" in s[len(kept) :] else s


def _strip_markup_indent(el: Any) -> None:
    """Drop the pretty-printing whitespace (with a newline) that efetch puts before `<sub>`/`<sup>`."""
    for child in el.iter("sub", "sup"):
        prev = child.getprevious()
        if prev is not None:
            if prev.tail:
                prev.tail = _trim(prev.tail)
        else:
            parent = child.getparent()
            if parent is not None and parent.text:
                parent.text = _trim(parent.text)


def flat(el: Any | None) -> str:
    """The text of an element with its inline markup flattened."""
    if el is None:
        return ""
    _strip_markup_indent(el)
    return text_of(el)


def _first(el: Any, path: str) -> str:
    found = el.find(path)
    return (found.text or "").strip() if found is not None else ""


def _year(article: Any) -> str | None:
    pub_date = article.find("Journal/JournalIssue/PubDate")
    if pub_date is not None:
        year = _first(pub_date, "Year")
        if year:
            return year
        match = _YEAR_RE.search(_first(pub_date, "MedlineDate"))
        if match:
            return match.group(1)
    return _first(article, "ArticleDate/Year") or None


def _doi(record: Any, article: Any) -> str | None:
    for el in record.findall("PubmedData/ArticleIdList/ArticleId"):
        if el.get("IdType") == "doi" and (el.text or "").strip():
            return str(el.text).strip()
    for el in article.findall("ELocationID"):
        if el.get("EIdType") == "doi" and (el.text or "").strip():
            return str(el.text).strip()
    return None


def _authors(article: Any) -> list[str]:
    out: list[str] = []
    for author in article.findall("AuthorList/Author"):
        last, initials = _first(author, "LastName"), _first(author, "Initials")
        name = f"{last} {initials}".strip() if last else _first(author, "CollectiveName")
        if name:
            out.append(name)
        if len(out) == MAX_AUTHORS:
            break
    return out


def _abstract(article: Any) -> _Abstract:
    abstract = _Abstract()
    for el in article.findall("Abstract/AbstractText"):
        text = flat(el)
        if text:
            abstract.add(" ".join((el.get("Label") or "").split()), text)
    return abstract


def read_article(record: Any, ctx: Context) -> Document | None:
    """One `PubmedArticle` as a document, or None (with a problem line) when it cannot be one."""
    citation = record.find("MedlineCitation")
    article = citation.find("Article") if citation is not None else None
    pmid = _first(citation, "PMID") if citation is not None else ""
    if citation is None or article is None or not pmid:
        ctx.problem(f"{ctx.path}:PMID {pmid or '?'}", "no PMID or no Article element: skipped")
        return None
    where = f"{ctx.path}:PMID {pmid}"
    title = flat(article.find("ArticleTitle")) or flat(article.find("VernacularTitle"))
    if not title:
        ctx.problem(where, "no title: skipped")
        return None
    abstract = _abstract(article)
    if not abstract.sections:
        ctx.problem(where, "no abstract: skipped")
        return None
    tb = TextBuilder()
    for label, lines in abstract.sections:
        if label:
            tb.heading(label)
        tb.paragraphs(lines, path=(label,) if label else ())
    text, parts = tb.finish()
    types = [t for t in (flat(el) for el in article.findall("PublicationTypeList/PublicationType")) if t]
    kind = "guideline" if any(t.lower() in GUIDELINE_TYPES for t in types) else "research"
    year = _year(article)
    meta: dict[str, Any] = {
        "origin": "PubMed",
        "pmid": pmid,
        "doi": _doi(record, article),
        "journal": flat(article.find("Journal/Title")) or None,
        "journal_iso": flat(article.find("Journal/ISOAbbreviation")) or None,
        "year": year,
        "publication_types": types,
        "mesh": [flat(el) for el in citation.findall("MeshHeadingList/MeshHeading/DescriptorName")],
        "authors": _authors(article),
        "entities": [],
    }
    try:
        return make_document(
            f"pubmed/{pmid}",
            text,
            title=title,
            kind=kind,
            url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/",
            date=year,
            source=str(ctx.path),
            parts=parts,
            meta=meta,
        )
    except CorpusError as exc:
        ctx.problem(where, f"{exc}: skipped")
        return None


def _records(root: Any, ctx: Context) -> Iterator[Any]:
    if local_name(root.tag) == "PubmedArticle":
        yield root
        return
    for child in root:
        name = local_name(child.tag)
        if name == "PubmedArticle":
            yield child
        elif name == "PubmedBookArticle":
            pmid = _first(child, "BookDocument/PMID")
            ctx.problem(f"{ctx.path}:PMID {pmid or '?'}", "PubMed book record: not read")


def from_root(root: Any, ctx: Context) -> Iterable[Document]:
    """The documents of a `PubmedArticleSet` (or a lone `PubmedArticle`)."""
    docs: list[Document] = []
    for record in _records(root, ctx):
        doc = read_article(record, ctx)
        if doc is not None:
            docs.append(doc)
        record.clear()  # a baseline file holds thousands: free each record once read
    return docs
