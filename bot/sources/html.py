"""HTML pages: the visible text (BeautifulSoup), block elements on their own lines, list items as bullets."""

from __future__ import annotations

import re

from ..documents import Document
from .base import Context, make_document, read_text

SUFFIXES = {".html", ".htm"}


def load(ctx: Context) -> list[Document]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(read_text(ctx.path), "html.parser")
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
    return [
        make_document(
            ctx.doc_id,
            text,
            title=title or (h1.get_text(" ", strip=True) if h1 else None),
            kind=ctx.default_kind,
            source=str(ctx.path),
        )
    ]
