"""Read a corpus directory (or file) into `Document`s, one module per format; report and skip what
cannot be read.

Formats: Markdown/plain text, HTML, PDF, JSON lines (`markdown`, `html`, `pdf`, `jsonl`); FDA SPL XML
labels and DailyMed zips (`spl`), openFDA label JSON (`openfda`), PubMed XML (`pubmed`, also `.xml.gz`),
PMC JATS full text (`jats`). An `.xml` file is routed by its root element; an XML file of another schema
is skipped with a message naming its root.

A reader is `load(ctx) -> Iterable[Document]` (XML readers: `from_root(root, ctx)`); it raises
`CorpusError` (one line) when the whole file is unusable and reports per-record problems with
`ctx.problem(where, reason)`.

Default kinds: a document whose format does not say its kind takes its folder's: `corpus.yaml` in the
corpus root (`kind: guideline`, or `folders: {labels: drug_label, "papers/2024": research}`), else a folder
named `guidelines/`, `labels/` (or `drug_labels/`) or `research/` on its path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import yaml

from ..documents import Document
from . import html, jats, jsonl, markdown, openfda, pdf, pubmed, spl
from .base import Context, CorpusError, LoadReport, Problem, kind_sections, make_document
from .xml import parse, read_bytes, root_name

__all__ = ["CorpusError", "LoadReport", "Problem", "kind_sections", "load_corpus", "make_document", "iter_files"]

log = logging.getLogger(__name__)

XML_SUFFIXES = {".xml", ".xml.gz"}
SUPPORTED_SUFFIXES = (
    markdown.SUFFIXES | html.SUFFIXES | pdf.SUFFIXES | jsonl.SUFFIXES | XML_SUFFIXES | jats.SUFFIXES
    | openfda.SUFFIXES | spl.ZIP_SUFFIXES
)  # fmt: skip
MAX_FILE_BYTES = 512 * 1024 * 1024
CONFIG_NAME = "corpus.yaml"
FOLDER_KINDS = {
    "guidelines": "guideline", "guideline": "guideline",
    "labels": "drug_label", "drug_labels": "drug_label", "drug-labels": "drug_label", "spl": "drug_label",
    "research": "research",
}  # fmt: skip
IGNORED_NAMES = {"readme.md", "readme", "license", "licence", "sources.md", CONFIG_NAME}


def suffix_of(path: Path) -> str:
    name = path.name.lower()
    return ".xml.gz" if name.endswith(".xml.gz") else path.suffix.lower()


def _load_xml(ctx: Context) -> Iterable[Document]:
    data = read_bytes(ctx.path)
    name = root_name(data)
    if name == "document":
        return spl.from_root(parse(data), ctx)
    if name == "PubmedArticleSet" or name == "PubmedArticle":
        return pubmed.from_root(parse(data), ctx)
    if name == "article":
        return jats.from_root(parse(data), ctx)
    raise CorpusError(f"XML of another schema (root element <{name}>): not an SPL label, PubMed or JATS file")


def reader(suffix: str):  # type: ignore[no-untyped-def]
    if suffix in jsonl.SUFFIXES:
        return jsonl.load
    if suffix in html.SUFFIXES:
        return html.load
    if suffix in pdf.SUFFIXES:
        return pdf.load
    if suffix in XML_SUFFIXES or suffix in jats.SUFFIXES:
        return _load_xml
    if suffix in openfda.SUFFIXES:
        return openfda.load
    if suffix in spl.ZIP_SUFFIXES:
        return spl.load_zip
    return markdown.load


def folder_kinds(base: Path) -> tuple[str | None, dict[str, str]]:
    """The corpus-wide default kind and per-folder kinds from `corpus.yaml` (raises `CorpusError`)."""
    config = base / CONFIG_NAME
    if not config.is_file():
        return None, {}
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CorpusError(f"bad {CONFIG_NAME}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{CONFIG_NAME} is not a mapping")
    folders = data.get("folders") or {}
    if not isinstance(folders, dict):
        raise CorpusError(f"{CONFIG_NAME}: `folders` is not a mapping of folder -> kind")
    kind = data.get("kind")
    return (str(kind) if kind else None), {str(k).strip("/"): str(v) for k, v in folders.items()}


def default_kind_for(
    rel: PurePosixPath, corpus_kind: str | None, folders: dict[str, str], *, root_name: str = ""
) -> str | None:
    """The kind a file's folder gives it: corpus.yaml's folders, then a folder named for a kind (the corpus
    root's own name included), then corpus.yaml's `kind`."""
    parents = [p.as_posix() for p in rel.parents if p.as_posix() != "."]
    for folder in parents:  # deepest first
        if folder in folders:
            return folders[folder]
    for name in [PurePosixPath(folder).name.lower() for folder in parents] + [root_name.lower()]:
        if name in FOLDER_KINDS:
            return FOLDER_KINDS[name]
    return corpus_kind


def iter_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _add_unique(report: LoadReport, seen: dict[str, int], doc: Document) -> None:
    """Add a document, renaming a repeated id `id~2`, `id~3`… (reported as a problem)."""
    if doc.id in seen:
        seen[doc.id] += 1
        new_id = f"{doc.id}~{seen[doc.id]}"
        report.problems.append(Problem(doc.source, f"duplicate id {doc.id!r}, renamed {new_id!r}"))
        report.duplicates += 1
        doc.id = new_id
    seen.setdefault(doc.id, 1)
    report.documents.append(doc)


def load_corpus(root: Path | list[Path], *, default_kind: str | None = None) -> LoadReport:
    """Load every supported file under `root` (or under each of several roots, in order; document ids
    are their paths under their own root). Problems are collected, never raised."""
    if isinstance(root, list):
        report = LoadReport()
        seen_ids: dict[str, int] = {}
        for one in root:
            part = load_corpus(one, default_kind=default_kind)
            report.problems.extend(part.problems)
            for doc in part.documents:
                _add_unique(report, seen_ids, doc)
            report.files_read += part.files_read
            report.duplicates += part.duplicates
        return report
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
    try:
        corpus_kind, folders = folder_kinds(base)
    except CorpusError as exc:
        report.problems.append(Problem(str(base / CONFIG_NAME), str(exc)))
        corpus_kind, folders = None, {}
    corpus_kind = default_kind or corpus_kind
    for path in iter_files(root):
        suffix = suffix_of(path)
        if suffix not in SUPPORTED_SUFFIXES:
            if path.name.lower() not in IGNORED_NAMES:
                report.problems.append(Problem(str(path), f"unsupported file type {suffix or '(none)'}"))
            continue
        if path.name.lower() in IGNORED_NAMES:
            continue
        report.files_read += 1
        rel = PurePosixPath(path.relative_to(base).as_posix())
        doc_id = rel.as_posix()[: -len(suffix)] if rel.as_posix().lower().endswith(suffix) else rel.as_posix()
        ctx = Context(path, doc_id, default_kind_for(rel, corpus_kind, folders, root_name=base.name))
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise CorpusError(f"file larger than {MAX_FILE_BYTES // 2**20} MiB")
            if path.stat().st_size == 0:
                raise CorpusError("empty file")
            for doc in reader(suffix)(ctx):
                _add_unique(report, seen, doc)
        except CorpusError as exc:
            report.problems.append(Problem(str(path), str(exc)))
        except OSError as exc:
            report.problems.append(Problem(str(path), f"cannot read: {exc.strerror or exc}"))
        report.problems.extend(ctx.problems)
    for problem in report.problems:
        log.warning("skipped %s: %s", problem.path, problem.reason)
    return report
