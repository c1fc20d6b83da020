"""Parsing XML safely (lxml, hardened): no entity expansion, no DTD or network fetches, a size limit.

Every XML format reader goes through `parse`, and `root_name` tells them apart without a full parse."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from .base import CorpusError

MAX_XML_BYTES = 256 * 1024 * 1024  # uncompressed


def _parser() -> Any:
    from lxml import etree

    return etree.XMLParser(
        resolve_entities=False,  # no entity expansion (billion laughs) and no external entities
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )


def read_bytes(path: Path, *, limit: int = MAX_XML_BYTES) -> bytes:
    """The file's bytes, gunzipped when it ends in .gz, refusing more than `limit` bytes."""
    if path.name.lower().endswith(".gz"):
        try:
            with gzip.open(path, "rb") as fh:
                data = fh.read(limit + 1)
        except (OSError, EOFError) as exc:
            raise CorpusError(f"not a readable gzip file ({exc})") from None
    else:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    if len(data) > limit:
        raise CorpusError(f"XML larger than {limit // 2**20} MiB")
    return data


def check_doctype(data: bytes) -> None:
    """Refuse documents that declare entities (entity expansion, external entities): nothing is fetched."""
    upper = data[:1_000_000].upper()
    start = upper.find(b"<!DOCTYPE")
    if start >= 0 and b"<!ENTITY" in upper[start:]:
        raise CorpusError("XML declares entities (entity expansion / external entity): refused, nothing fetched")


def parse(data: bytes) -> Any:
    """The root element of an XML document; `CorpusError` for malformed or hostile input."""
    from lxml import etree

    check_doctype(data)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise CorpusError(f"malformed XML: {exc}") from None
    if root is None:
        raise CorpusError("malformed XML: no root element")
    for el in root.iter(etree.Entity):  # unexpanded entity references left in the tree
        raise CorpusError(f"XML uses an undefined entity &{el.name};")
    return root


def local_name(tag: Any) -> str:
    """`{urn:hl7-org:v3}section` -> `section` (comments and other nodes give "")."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def root_name(data: bytes) -> str:
    """The local name of the root element, read incrementally (stops at the first start tag)."""
    import io

    from lxml import etree

    check_doctype(data)
    try:
        for _event, el in etree.iterparse(
            io.BytesIO(data), events=("start",), resolve_entities=False, no_network=True, load_dtd=False
        ):
            return local_name(el.tag)
    except etree.XMLSyntaxError as exc:
        raise CorpusError(f"malformed XML: {exc}") from None
    raise CorpusError("malformed XML: no root element")


def text_of(el: Any, *, skip: frozenset[str] = frozenset(), spaced: frozenset[str] = frozenset()) -> str:
    """All text inside an element (tails included), whitespace collapsed; subtrees named in `skip` left out,
    and the elements named in `spaced` (`br`, block elements) read as a space on each side."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        name = local_name(node.tag)
        if name in skip:
            return
        if name in spaced:
            parts.append(" ")
        if node.text:
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if name in spaced:
            parts.append(" ")

    walk(el)
    return " ".join("".join(parts).split())
