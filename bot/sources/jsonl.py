"""JSON lines, one document per line: BEIR `corpus.jsonl` (`_id/title/text/metadata`) and evidence packs
(`id/kind/title/text/url`).

What a reference to a line's document shows (title, origin, link, date) comes from the line itself and from
where the file lies, never from the network. `text` is kept exactly as given (quotes and their offsets are
into it); everything below only fills in what a reference shows.

- **title**: the line's `title`. An untitled line (PubMedQA ships none) takes the start of its text: its first
  sentence (with the next ones while that is under TITLE_MIN characters: "Cross-sectional."), on one line, cut
  at a word boundary to TITLE_MAX characters with "…"; `meta["title_from"] = "text"` then marks the title as the
  document's own opening words, not the article's title. Never a `question`: in MedQuAD and PubMedQA that is the
  very query the document answers (PubMedQA's README: its question is derived from the title, so it is kept out
  of the corpus), and a title is indexed with the text.
- **PMID** (`meta["pmid"]`): the line's or its metadata's `pmid` (PubMedQA), or a PubMed link that names one
  (NFCorpus `metadata.url`: `…/pubmed/25329299`, `…/pubmed?term=6341793[uid]`, `…/pmc/articles/pmid/20606779/`),
  never a bare id: SciFact's `_id` is an S2ORC paper id, not a PMID (its README). A PMID links
  `https://pubmed.ncbi.nlm.nih.gov/<pmid>/` unless the line links elsewhere; a PMC link's id is `meta["pmcid"]`,
  linked as `https://pmc.ncbi.nlm.nih.gov/articles/<PMCID>/`.
- **origin** (`meta["origin"]`, a reference's `source`): the line's `origin`; else what the host of its link
  says (ORIGINS); else "PubMed" for a PMID; else, for a record of a known BEIR data set (DATASETS), what that
  set's README says its documents are ("SciFact (PubMed abstract)"). The set is known from the id's prefix in an
  evidence pack (`beir-scifact:19205326`) or from the folder of a BEIR `corpus.jsonl` (one with `queries.jsonl`
  or `qrels/` beside it: `…/beir-scifact/corpus.jsonl`); `meta["dataset"]` names it.
- **date**: `date`, else `year` (PubMedQA's `metadata.year`), line or metadata.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..chunking import sentences
from ..documents import Document
from .base import Context, CorpusError, make_document

SUFFIXES = {".jsonl", ".ndjson"}


# What a document is, from the host of its URL, when the line does not say (`origin`).
ORIGINS = {
    "pubmed.ncbi.nlm.nih.gov": "PubMed",
    "www.ncbi.nlm.nih.gov/pubmed": "PubMed",
    "pmc.ncbi.nlm.nih.gov": "PMC",
    "www.ncbi.nlm.nih.gov/pmc": "PMC",
    "rarediseases.info.nih.gov": "NIH GARD",
    "ghr.nlm.nih.gov": "NIH Genetics Home Reference",
    "www.ninds.nih.gov": "NIH NINDS",
    "medlineplus.gov": "MedlinePlus",
    "dailymed.nlm.nih.gov": "FDA label",
}

# BEIR data sets whose lines do not say what they are: key (folder or id prefix, lower case, without "beir-")
# -> (the set's name, the origin its documents get when nothing else gives one), from each set's README:
# SciFact "the PubMed-indexed abstracts (title + abstract)", NFCorpus "documents are PubMed abstracts",
# PubMedQA "`_id` = PMID" (its documents get "PubMed" from their PMID).
DATASETS = {
    "scifact": ("SciFact", "SciFact (PubMed abstract)"),
    "nfcorpus": ("NFCorpus", "NFCorpus (PubMed abstract)"),
    "pubmedqa": ("PubMedQA", "PubMedQA (PubMed abstract)"),
}

TITLE_MAX = 120  # characters of a title taken from the text, "…" included
TITLE_MIN = 40  # a first sentence shorter than this ("A retrospective analysis.") takes the next one too

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{}/"
PMC_URL = "https://pmc.ncbi.nlm.nih.gov/articles/{}/"
_GAP = r"(?:\s|%20)*"  # stray spaces and "%20" around an id, as NFCorpus links have them
_TAIL = r"/?(?:[?#].*)?"
# A link to one PubMed record, as NFCorpus and evidence packs give them; a search for words names none.
PUBMED_LINK_RE = re.compile(
    "https?://(?:"
    + "|".join(
        (
            rf"pubmed\.ncbi\.nlm\.nih\.gov/{_GAP}(?P<a>\d{{1,12}}){_GAP}{_TAIL}",
            rf"(?:www\.)?ncbi\.nlm\.nih\.gov/(?:pubmed|pmc/articles/pmid)/{_GAP}(?P<b>\d{{1,12}}){_GAP}{_TAIL}",
            rf"(?:www\.)?ncbi\.nlm\.nih\.gov/pubmed/?\?term={_GAP}(?P<c>\d{{1,12}})(?:\[uid\]|%5Buid%5D)?{_GAP}(?:&.*)?",
        )
    )
    + ")",
    re.IGNORECASE | re.DOTALL,
)
# A link to one PMC article.
PMC_LINK_RE = re.compile(
    r"https?://(?:pmc\.ncbi\.nlm\.nih\.gov/articles/|(?:www\.)?ncbi\.nlm\.nih\.gov/pmc/articles/)"
    r"(?P<id>PMC\d{1,9})/?(?:[?#].*)?",
    re.IGNORECASE | re.DOTALL,
)
_PMID_RE = re.compile(r"0*(?P<pmid>[1-9]\d{0,8})")  # "0010480616" is PMID 10480616; "0000000" is none


def origin_of(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    rest = url.split("://", 1)[-1]
    for prefix, name in ORIGINS.items():
        if rest.startswith(prefix):
            return name
    return None


def pmid(value: Any) -> str | None:
    """`value` as a PMID ("0010480616" -> "10480616"), or None when it is not one."""
    m = _PMID_RE.fullmatch(str(value).strip()) if value is not None else None
    return m.group("pmid") if m else None


def pmid_of_url(url: str) -> str | None:
    """The PMID a link to one PubMed record names (a search link for words names none)."""
    m = PUBMED_LINK_RE.fullmatch(url.strip())
    return pmid(m.group("a") or m.group("b") or m.group("c")) if m else None


def pmcid_of_url(url: str) -> str | None:
    m = PMC_LINK_RE.fullmatch(url.strip())
    return m.group("id").upper() if m else None


def dataset_key(name: str) -> str:
    """`beir-scifact` -> `scifact`: a folder's or an id prefix's name as DATASETS holds it."""
    key = name.strip().lower()
    for prefix in ("beir-", "beir_"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def beir_dataset(path: Path) -> str | None:
    """The DATASETS key of a BEIR `corpus.jsonl` (named by its folder), or None for any other file."""
    folder = path.parent
    if path.name.lower() != "corpus.jsonl":
        return None
    if not ((folder / "queries.jsonl").is_file() or (folder / "qrels").is_dir()):
        return None
    key = dataset_key(folder.name)
    return key if key in DATASETS else None


def _one_line(value: str) -> str:
    return " ".join(value.split())


def shorten(value: str, limit: int = TITLE_MAX) -> str:
    """`value` on one line, cut at a word boundary to at most `limit` characters, "…" marking a cut."""
    value = _one_line(value)
    if len(value) <= limit:
        return value
    cut = value.rfind(" ", 0, limit)  # the "…" takes the place of the space
    if cut < limit // 2:  # one very long word: cut inside it
        cut = limit - 1
    return value[:cut].rstrip(" ,;:-\u2013\u2014(/") + "\u2026"


def title_from_text(text: str) -> str | None:
    """The start of `text` as a title: its first sentence (and the next ones while that is under TITLE_MIN
    characters), cut to TITLE_MAX characters."""
    head = text[: TITLE_MAX * 8]  # a title never needs more
    taken = ""
    for span in sentences(head, 0, len(head), max_len=TITLE_MAX * 4):
        taken = _one_line(f"{taken} {head[span.start : span.end]}")
        if len(taken) >= TITLE_MIN:
            break
    return shorten(taken) if taken else None


def _first(obj: dict[str, Any], meta: dict[str, Any], *names: str) -> Any:
    """The first of `names` that the line or its metadata gives a value (not "" or null) for."""
    for name in names:
        for where in (obj, meta):
            value = where.get(name)
            if value is not None and str(value).strip() != "":
                return value
    return None


def document(obj: Any, where: str, default_kind: str | None, dataset: str | None = None) -> Document:
    """One line's document; `dataset` is the DATASETS key of the BEIR folder the file is in, if any."""
    if not isinstance(obj, dict):
        raise CorpusError("line is not a JSON object")
    doc_id = obj.get("_id", obj.get("id"))
    if doc_id is None or str(doc_id).strip() == "":
        raise CorpusError("no `_id` or `id`")
    text = obj.get("text")
    if not isinstance(text, str):
        raise CorpusError("no `text` string")
    meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    about: dict[str, Any] = {}

    url = obj.get("url") or meta.get("url")
    url = url.strip() if isinstance(url, str) and url.strip() else None
    linked_pmid = pmid_of_url(url) if url else None
    pmcid = pmcid_of_url(url) if url else None
    record = pmid(_first(obj, meta, "pmid", "PMID")) or linked_pmid
    if record:
        about["pmid"] = record
        if url is None or linked_pmid == record:
            url = PUBMED_URL.format(record)
    if pmcid:
        about["pmcid"] = pmcid
        url = PMC_URL.format(pmcid)

    prefix = str(doc_id).split(":", 1)[0] if ":" in str(doc_id) else ""
    key = dataset_key(prefix) if dataset_key(prefix) in DATASETS else dataset
    if key in DATASETS:
        about["dataset"] = DATASETS[key][0]

    origin = obj.get("origin") or meta.get("origin") or origin_of(url) or ("PubMed" if record else None)
    if not origin and key in DATASETS:
        origin = DATASETS[key][1]
    if origin:
        about["origin"] = str(origin)

    question = obj.get("question") or meta.get("question")
    if isinstance(question, str) and question.strip():
        about["question"] = question.strip()[:500]  # the question an FAQ-style answer answers (MedQuAD)
    if obj.get("licence") or obj.get("license"):
        about["licence"] = str(obj.get("licence") or obj.get("license"))

    title = obj.get("title")
    if title is None or str(title).strip() == "":
        title = title_from_text(text.replace("\x00", ""))
        if title:
            about["title_from"] = "text"
    return make_document(
        str(doc_id),
        text,
        title=title,
        kind=obj.get("kind") or meta.get("kind") or default_kind,
        url=url,
        date=_first(obj, meta, "date", "year"),
        source=where,
        meta=about,
    )


def load(ctx: Context) -> Iterator[Document]:
    dataset = beir_dataset(ctx.path)
    with ctx.path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{ctx.path}:{lineno}"
            try:
                obj = json.loads(line.decode("utf-8"))
                yield document(obj, where, ctx.default_kind, dataset)
            except UnicodeDecodeError:
                ctx.problem(where, "not valid UTF-8")
            except json.JSONDecodeError as exc:
                ctx.problem(where, f"invalid JSON: {exc.msg}")
            except CorpusError as exc:
                ctx.problem(where, str(exc))
