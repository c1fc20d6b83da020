"""Read a corpus directory (or file) into `Document`s; report and skip what cannot be read."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .documents import Document, Section

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | JSONL_SUFFIXES
MAX_FILE_BYTES = 512 * 1024 * 1024

# Headings that give a section of an answer-shaped document its own kind, as the seed answer does.
KIND_HEADING_RE = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?From the (?P<what>Guidelines?|FDA Drug Labels?|Drug Labels?|Research)[ \t]*:?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_HEADING_KINDS = {"guideline": "guideline", "fda drug label": "drug_label", "drug label": "drug_label"}
FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*(?:\n|\Z)", re.DOTALL)


class CorpusError(Exception):
    """A file (or line) that cannot be turned into a document."""


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


def _clean(value: Any) -> str | None:
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
) -> Document:
    """Normalise line endings, find kind sections, and check the text is usable."""
    if not isinstance(text, str):
        raise CorpusError("text is not a string")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        raise CorpusError("no text")
    sections = kind_sections(text)
    return Document(
        id=doc_id,
        title=_clean(title) or doc_id,
        text=text,
        kind=(_clean(kind) or (sections[0].kind if sections else "other")).lower().replace(" ", "_"),
        url=_clean(url),
        date=_clean(date),
        source=source,
        sections=sections,
        cites_inline=bool(sections),
    )


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise CorpusError("binary file (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"not valid UTF-8 (byte {exc.start})") from None


def _load_text(path: Path, doc_id: str) -> Document:
    raw = _read_text(path)
    meta: dict[str, Any] = {}
    match = FRONT_MATTER_RE.match(raw.replace("\r\n", "\n"))
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            raise CorpusError(f"bad YAML front matter: {str(exc).splitlines()[0]}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise CorpusError("front matter is not a mapping")
        meta = loaded or {}
        raw = raw.replace("\r\n", "\n")[match.end() :]
    title = meta.get("title")
    if not title:
        first = next((ln.strip() for ln in raw.splitlines() if ln.strip()), "")
        title = first.lstrip("#").strip() if first.startswith("#") else path.stem.replace("_", " ")
    return make_document(
        str(meta.get("id") or doc_id),
        raw,
        title=title,
        kind=meta.get("kind"),
        url=meta.get("url"),
        date=meta.get("date"),
        source=str(path),
    )


def _load_html(path: Path, doc_id: str) -> Document:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_text(path), "html.parser")
    for tag in soup(["script", "style", "head", "noscript", "template", "svg"]):
        if tag.name == "head":
            continue
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    if soup.head:
        soup.head.decompose()
    h1 = soup.find("h1")
    block = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "br", "section", "article"}
    for tag in soup.find_all(block):
        if tag.name == "li":
            tag.insert(0, "- ")
        tag.append("\n")
    lines = [re.sub(r"[ \t\u00a0]+", " ", ln).strip() for ln in soup.get_text().splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return make_document(doc_id, text, title=title or (h1.get_text(" ", strip=True) if h1 else None), source=str(path))


def _load_pdf(path: Path, doc_id: str) -> Document:
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = reader.metadata.title if reader.metadata else None
    except Exception as exc:  # pypdf raises many types on damaged files
        raise CorpusError(f"unreadable PDF: {exc}") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise CorpusError("PDF has no text layer")
    return make_document(doc_id, text, title=meta_title, source=str(path))


def _jsonl_document(obj: Any, where: str, default_kind: str | None) -> Document:
    if not isinstance(obj, dict):
        raise CorpusError("line is not a JSON object")
    doc_id = obj.get("_id", obj.get("id"))
    if doc_id is None or str(doc_id).strip() == "":
        raise CorpusError("no `_id` or `id`")
    text = obj.get("text")
    if not isinstance(text, str):
        raise CorpusError("no `text` string")
    meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    return make_document(
        str(doc_id),
        text,
        title=obj.get("title"),
        kind=obj.get("kind") or meta.get("kind") or default_kind,
        url=obj.get("url") or meta.get("url"),
        date=obj.get("date") or meta.get("date"),
        source=where,
    )


def _iter_jsonl(path: Path, report: LoadReport, default_kind: str | None) -> Iterator[Document]:
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line.decode("utf-8"))
                yield _jsonl_document(obj, where, default_kind)
            except UnicodeDecodeError:
                report.problems.append(Problem(where, "not valid UTF-8"))
            except json.JSONDecodeError as exc:
                report.problems.append(Problem(where, f"invalid JSON: {exc.msg}"))
            except CorpusError as exc:
                report.problems.append(Problem(where, str(exc)))


def iter_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def load_corpus(root: Path, *, default_kind: str | None = None) -> LoadReport:
    """Load every supported file under `root`. Problems are collected, never raised."""
    report = LoadReport()
    if not root.exists():
        raise FileNotFoundError(f"corpus not found: {root}")
    if (
        root.is_dir()
        and (root / "corpus.jsonl").is_file()
        and ((root / "queries.jsonl").is_file() or (root / "qrels").is_dir())
    ):
        log.info("%s is a BEIR data set: indexing its corpus.jsonl only", root)
        root = root / "corpus.jsonl"
    seen: dict[str, int] = {}
    base = root if root.is_dir() else root.parent
    for path in iter_files(root):
        suffix = path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            if path.name.lower() not in {"readme.md", "license", "readme"}:
                report.problems.append(Problem(str(path), f"unsupported file type {suffix or '(none)'}"))
            continue
        report.files_read += 1
        doc_id = path.relative_to(base).with_suffix("").as_posix()
        docs: Iterator[Document] | list[Document]
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise CorpusError(f"file larger than {MAX_FILE_BYTES // 2**20} MiB")
            if path.stat().st_size == 0:
                raise CorpusError("empty file")
            if suffix in JSONL_SUFFIXES:
                docs = _iter_jsonl(path, report, default_kind)
            elif suffix in HTML_SUFFIXES:
                docs = [_load_html(path, doc_id)]
            elif suffix in PDF_SUFFIXES:
                docs = [_load_pdf(path, doc_id)]
            else:
                docs = [_load_text(path, doc_id)]
            for doc in docs:
                if doc.id in seen:
                    seen[doc.id] += 1
                    new_id = f"{doc.id}~{seen[doc.id]}"
                    report.problems.append(Problem(doc.source, f"duplicate id {doc.id!r}, renamed {new_id!r}"))
                    report.duplicates += 1
                    doc.id = new_id
                seen.setdefault(doc.id, 1)
                report.documents.append(doc)
        except CorpusError as exc:
            report.problems.append(Problem(str(path), str(exc)))
        except OSError as exc:
            report.problems.append(Problem(str(path), f"cannot read: {exc.strerror or exc}"))
    for problem in report.problems:
        log.warning("skipped %s: %s", problem.path, problem.reason)
    return report
