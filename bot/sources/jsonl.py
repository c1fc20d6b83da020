"""JSON lines, one document per line: BEIR `corpus.jsonl` (`_id/title/text/metadata`) and evidence packs
(`id/kind/title/text/url`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

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


def origin_of(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    rest = url.split("://", 1)[-1]
    for prefix, name in ORIGINS.items():
        if rest.startswith(prefix):
            return name
    return None


def document(obj: Any, where: str, default_kind: str | None) -> Document:
    if not isinstance(obj, dict):
        raise CorpusError("line is not a JSON object")
    doc_id = obj.get("_id", obj.get("id"))
    if doc_id is None or str(doc_id).strip() == "":
        raise CorpusError("no `_id` or `id`")
    text = obj.get("text")
    if not isinstance(text, str):
        raise CorpusError("no `text` string")
    meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    url = obj.get("url") or meta.get("url")
    about: dict[str, Any] = {}
    origin = obj.get("origin") or meta.get("origin") or origin_of(url)
    if origin:
        about["origin"] = str(origin)
    question = obj.get("question") or meta.get("question")
    if isinstance(question, str) and question.strip():
        about["question"] = question.strip()[:500]  # the question an FAQ-style answer answers (MedQuAD)
    if obj.get("licence") or obj.get("license"):
        about["licence"] = str(obj.get("licence") or obj.get("license"))
    return make_document(
        str(doc_id),
        text,
        title=obj.get("title"),
        kind=obj.get("kind") or meta.get("kind") or default_kind,
        url=url,
        date=obj.get("date") or meta.get("date"),
        source=where,
        meta=about,
    )


def load(ctx: Context) -> Iterator[Document]:
    with ctx.path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{ctx.path}:{lineno}"
            try:
                obj = json.loads(line.decode("utf-8"))
                yield document(obj, where, ctx.default_kind)
            except UnicodeDecodeError:
                ctx.problem(where, "not valid UTF-8")
            except json.JSONDecodeError as exc:
                ctx.problem(where, f"invalid JSON: {exc.msg}")
            except CorpusError as exc:
                ctx.problem(where, str(exc))
