"""Render an `Answer` through the Jinja2 templates in `web/templates/answer/` (text, Markdown, HTML)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .documents import Answer

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
    return env


def render(answer: Answer, fmt: str = "text", *, root: Path | None = None, **extra: object) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    template = environment(root).get_template("answer/" + FORMATS[fmt])
    return template.render(answer=answer, **extra)
