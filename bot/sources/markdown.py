"""Markdown and plain text, with optional YAML front matter (`title`, `kind`, `url`, `date`, `id`)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..documents import Document
from .base import Context, CorpusError, make_document, read_text

SUFFIXES = {".md", ".markdown", ".txt", ".text"}
FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*(?:\n|\Z)", re.DOTALL)


def load(ctx: Context) -> list[Document]:
    raw = read_text(ctx.path)
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
        title = first.lstrip("#").strip() if first.startswith("#") else ctx.path.stem.replace("_", " ")
    return [
        make_document(
            str(meta.get("id") or ctx.doc_id),
            raw,
            title=title,
            kind=meta.get("kind") or ctx.default_kind,
            url=meta.get("url"),
            date=meta.get("date"),
            source=str(ctx.path),
        )
    ]
