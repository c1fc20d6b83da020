"""Render an `Answer` through the Jinja2 templates in `web/templates/answer/` (text, Markdown, HTML)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .documents import Answer, Reference

FORMATS = {"text": "answer.txt.j2", "markdown": "answer.md.j2", "html": "answer.html.j2"}


def web_dir(configured: Path | None = None) -> Path:
    """Where templates and static files live: the configured folder, or the repo's `web/`."""
    if configured is not None:
        return configured
    return Path(__file__).resolve().parent.parent / "web"


@lru_cache(maxsize=4)
def environment(root: Path | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(web_dir(root) / "templates")),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cites"] = lambda ns: ", ".join(str(n) for n in ns)
    # one URL path segment: "/" and "." runs encoded too (`../../etc/passwd` stays inside /source/), as the
    # chat's script (encodeURIComponent) and the Slack links do
    env.filters["segment"] = lambda v: quote(str(v), safe="").replace(".", "%2E")
    env.filters["label"] = label
    env.filters["ref_details"] = reference_details
    env.filters["ref_kind"] = reference_kind
    env.filters["md_text"] = markdown_text
    return env


def label(value: str | None) -> str:
    """An optional label (a bullet's section, a reference's source…) as shown: on one line, runs of white
    space as one space, "" when absent."""
    return " ".join((value or "").split())


def reference_details(ref: Reference) -> str:
    """What a reference is, where and when: "FDA label, Boxed Warning, 2013-09-30" (only the parts it has)."""
    return ", ".join(part for part in (label(ref.source), label(ref.locator), label(ref.date)) if part)


def reference_kind(ref: Reference) -> str:
    """The kind as a short label ("drug label"), for references whose `source` does not already say what
    they are; "" otherwise."""
    return "" if label(ref.source) else ref.kind.replace("_", " ")


MARKDOWN_SPECIALS = "\\`*_[]<>#|"


def markdown_text(value: str) -> str:
    """Backslash-escape the characters that would turn a label into Markdown markup or raw HTML."""
    return "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in value)


def render(answer: Answer, fmt: str = "text", *, root: Path | None = None, **extra: object) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    template = environment(root).get_template("answer/" + FORMATS[fmt])
    return template.render(answer=answer, **extra)
